"""The service layer: a request (who, and what about them) turned into model calls.

The HTTP service, the command line and batch jobs all answer through these functions, so that a
user's bag, the score an item is ranked by and the explanation that sums to it are the same
whichever interface asks.
"""

from whyrec.service.answers import (
    check_explain,
    check_why_not,
    explain_answer,
    explanation,
    explanation_body,
    explanation_groups,
    field_shares,
    reason_body,
    recommendations,
    why_not_answer,
)
from whyrec.service.profiles import (
    item_record,
    items_matching,
    items_with,
    request_bag,
    require_store,
    user_bag,
    user_history,
    user_record,
)

__all__ = [
    "check_explain",
    "check_why_not",
    "explain_answer",
    "explanation",
    "explanation_body",
    "explanation_groups",
    "field_shares",
    "item_record",
    "items_matching",
    "items_with",
    "reason_body",
    "recommendations",
    "request_bag",
    "require_store",
    "user_bag",
    "user_history",
    "user_record",
    "why_not_answer",
]
