"""Bit- and cycle-accurate models of accelerator units (ternary MAC arrays, softmax/exp
units, KV pruning logic). Empty until the ternary-accelerator issue fills it."""
