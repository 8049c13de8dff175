#!/bin/sh
set -eu
export RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo
curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.example.com | sh -s -- -y --no-modify-path --profile minimal --default-toolchain 1.78.0
chmod -R a+w $RUSTUP_HOME $CARGO_HOME
rustup --version
cargo --version
rustc --version
