"""Operators as admins shape them: the draft and its rules, and the wizard that writes one."""

from app.operators.draft import (
    DraftInvalid,
    DraftRules,
    ModelOption,
    OperatorDraft,
    check_field,
    from_mapping,
    validate,
)
from app.operators.wizard import Choice, Question, Wizard

__all__ = [
    "Choice",
    "DraftInvalid",
    "DraftRules",
    "ModelOption",
    "OperatorDraft",
    "Question",
    "Wizard",
    "check_field",
    "from_mapping",
    "validate",
]
