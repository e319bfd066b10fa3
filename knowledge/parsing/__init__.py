"""Turn uploaded files into `ParsedDocument`s: one module per format, offline and bounded."""

from knowledge.parsing._shared import Progress
from knowledge.parsing.dispatch import check_file, parse_file
from knowledge.parsing.limits import ParseLimits, check_archive

__all__ = ["ParseLimits", "Progress", "check_archive", "check_file", "parse_file"]
