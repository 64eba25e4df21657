"""The 58 IFBench instruction types (Pyatkin et al. 2025), with the reference scorer's semantics.

The reference is allenai/IFBench at ``8a66c06`` (the copy HiR and HeRL vendor; see
``../shared/reference/README.md``), re-implemented here offline and deterministically. The
types live in two modules by id prefix:

- :mod:`.ifbench_counts`: ``count:*``, ``ratio:*``, ``words:*``, ``sentence:*``;
- :mod:`.ifbench_format`: ``format:*``, ``custom:*``, ``repeat:*``;

and share the text analysers of :mod:`.ifbench_text`. Strict and loose checks are IFEval's
(``base``): a blank response fails, loose tries the eight variants.
"""

from __future__ import annotations

from . import ifbench_counts, ifbench_format

TYPES = (*ifbench_counts.TYPES, *ifbench_format.TYPES)
