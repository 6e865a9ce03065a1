"""Differentiable ops: each a `Function` subclass plus a lowercase wrapper.

`minicnn.functional` gathers the wrappers under one name (`import minicnn.functional as F`).
"""
