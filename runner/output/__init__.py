"""Output: result records, text/JSON/markdown rendering, JUnit, and secret scrubbing.

The lowest stage: every other stage may import it, it imports none of them.
"""
