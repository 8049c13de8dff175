// Reverse shells, bind shells and webshells as they appear in scripts and small binaries. Each rule
// needs the network part *and* the shell part: either alone is ordinary code.

rule reverse_shell_dev_tcp
{
    meta:
        description = "bash /dev/tcp or /dev/udp redirection wired to an interactive shell"
        family = "reverse-shell"
    strings:
        $dev = /\/dev\/(tcp|udp)\/[^\/\s]+\/[0-9]+/
        $i1 = /(bash|sh)\s+-i/
        $i2 = ">&"
        $i3 = "0>&1"
        $i4 = "exec 5<>"
    condition:
        $dev and 1 of ($i*)
}

rule reverse_shell_socket_dup2
{
    meta:
        description = "A program that connects a socket, duplicates it onto stdio and spawns a shell (python, perl, ruby, C)"
        family = "reverse-shell"
    strings:
        $sock1 = "socket.socket"
        $sock2 = "IO::Socket::INET"
        $sock3 = "TCPSocket.new"
        $sock4 = "socket(AF_INET"
        $sock5 = "fsockopen("
        $dup1 = "dup2("
        $dup2 = "os.dup2"
        $dup3 = "open(STDIN"
        $sh1 = "/bin/sh"
        $sh2 = "/bin/bash"
        $sh3 = "pty.spawn"
        $sh4 = "subprocess.call"
    condition:
        1 of ($sock*) and 1 of ($dup*) and 1 of ($sh*)
}

rule netcat_fifo_shell
{
    meta:
        description = "mkfifo/mknod pipeline that relays a shell through netcat, openssl or telnet"
        family = "reverse-shell"
    strings:
        $f1 = "mkfifo"
        $f2 = "mknod"
        $n1 = /\bnc(at)?\s/
        $n2 = "openssl s_client"
        $n3 = "telnet "
        $s1 = /\/bin\/(ba)?sh\s+-i/
        $s2 = "|/bin/sh"
        $s3 = "| /bin/sh"
        $s4 = "|sh "
    condition:
        1 of ($f*) and 1 of ($n*) and 1 of ($s*)
}

rule webshell_php_eval_request
{
    meta:
        description = "PHP webshell: request data passed to eval/system/assert"
        family = "webshell"
    strings:
        $e1 = /(eval|assert|system|passthru|shell_exec|exec|popen|proc_open)\s*\(\s*(base64_decode\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE|SERVER)/ nocase
        $e2 = /preg_replace\s*\(\s*['"][^'"]*\/e['"]/ nocase
        $e3 = "create_function($_" nocase
    condition:
        any of them
}

rule webshell_jsp_runtime_exec
{
    meta:
        description = "JSP webshell: request parameter passed to Runtime.exec"
        family = "webshell"
    strings:
        $a = "Runtime.getRuntime().exec(" nocase
        $b = "request.getParameter(" nocase
    condition:
        $a and $b
}
