"""The pure core: mapping, normalization, matching, planning and safeguards.

Nothing here imports a framework, a database or a network library, and the clock is an argument.
"""
