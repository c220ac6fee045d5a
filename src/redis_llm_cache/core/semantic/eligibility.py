"""Which prompts may be answered from another user's words (the semantic tier).

Some questions must never get a paraphrase's answer, however close it is:

* ``"personal"`` -- about the asker's own state ("my order", "my balance",
  "我的订单", "我的余额"): another user's "where is my order" has another answer
  (generic how-tos such as "how do I reset my password" stay eligible);
* ``"time_sensitive"`` -- about now ("today", "latest", "current price", "今天",
  "最新"): a stored answer was right when it was given;
* ``"tool_calling"`` -- the model was given tools (the answer is a tool call made
  for that exact request): detected from the model settings (``llm_string``).

A rule is a name above or any callable ``(text, llm_string) -> bool`` that returns
``True`` for a prompt that must **bypass** the semantic tier. Bypassed prompts
are still served by the exact tier (same prompt, same settings) and still stored.
The default is all three built-ins (:data:`DEFAULT_BYPASS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ...errors import ConfigurationError

#: ``(text, llm_string) -> True`` when the prompt must bypass the semantic tier.
BypassRule = Callable[[str, str], bool]

# Possessive + something whose answer is the asker's own state. Generic how-tos
# ("how do I reset my password") stay eligible: their answer is the same for all.
_PERSONAL = re.compile(
    r"\b(?:my|our)\s+(?:\w+\s+)?(?:orders?|balance|bills?|invoices?|refunds?|bookings?|"
    r"reservations?|deliver(?:y|ies)|packages?|parcels?|shipments?|appointments?|claims?|"
    r"applications?|results?|salary|credit score|points|account (?:balance|status)|"
    r"(?:application|order|account|delivery|claim) status)\b"
    r"|(?:我|我们|本人)的?(?:订单|快递|包裹|物流|余额|账单|退款|额度|工资|社保|公积金|预约|"
    r"申请|成绩|积分|账户余额|信用分)",
    re.IGNORECASE,
)
_TIME_SENSITIVE = re.compile(
    r"\b(?:today|tonight|tomorrow|yesterday|now|right now|currently|current|latest|newest|"
    r"recent|recently|this (?:week|month|year|morning|evening)|live|breaking|at the moment)\b"
    r"|今天|今日|今晚|明天|昨天|现在|目前|当前|此刻|最新|最近|实时|本周|这周|本月|这个月|今年",
    re.IGNORECASE,
)
# JSON ("tools": [...]) and LangChain's llm_string (('tools', [...])); empty or
# null tool lists do not count.
_TOOLS = re.compile(
    r"""["'](?:tools|functions|tool_choice|function_call)["']\s*[:,](?!\s*(?:null|None|\[\]|\{\}))"""
)


# "How do I cancel my order?" / "如何取消我的订单": the steps are the same for everyone.
_HOW_TO = re.compile(
    r"^\s*(?:how\s+(?:do|can|could|should|would)\s+(?:i|we|you)\b|how\s+to\b)"
    r"|^\s*(?:请问)?(?:怎么|怎样|如何)",
    re.IGNORECASE,
)


def personal(text: str, llm_string: str) -> bool:
    """About the asker's own account, order, data ... (en, zh); a how-to question
    about them ("how do I cancel my order") is not."""
    return _PERSONAL.search(text) is not None and _HOW_TO.search(text) is None


def time_sensitive(text: str, llm_string: str) -> bool:
    """About the present: today, now, latest ... (en, zh)."""
    return _TIME_SENSITIVE.search(text) is not None


def tool_calling(text: str, llm_string: str) -> bool:
    """The model settings include tools or functions (LangChain's ``llm_string``
    carries ``bind_tools(...)`` as ``"tools": [...]``)."""
    return _TOOLS.search(llm_string) is not None


BUILTIN: dict[str, BypassRule] = {
    "personal": personal,
    "time_sensitive": time_sensitive,
    "tool_calling": tool_calling,
}
DEFAULT_BYPASS: tuple[str, ...] = ("personal", "time_sensitive", "tool_calling")


def resolve_rules(rules: Sequence[str | BypassRule]) -> tuple[tuple[str, BypassRule], ...]:
    """``(name, rule)`` for each built-in name or callable; unknown names are a
    ``ConfigurationError``."""
    if isinstance(rules, str):
        raise ConfigurationError("semantic bypass rules must be a sequence, e.g. ('personal',)")
    resolved: list[tuple[str, BypassRule]] = []
    for rule in rules:
        if isinstance(rule, str):
            if rule not in BUILTIN:
                raise ConfigurationError(
                    f"unknown bypass rule {rule!r}; built-ins: {sorted(BUILTIN)}"
                )
            resolved.append((rule, BUILTIN[rule]))
        elif callable(rule):
            resolved.append((getattr(rule, "__name__", type(rule).__name__), rule))
        else:
            raise ConfigurationError(f"a bypass rule is a name or a callable, got {rule!r}")
    return tuple(resolved)


def bypass_reason(
    rules: Sequence[tuple[str, BypassRule]], text: str, llm_string: str
) -> str | None:
    """Name of the first rule that sends this prompt past the semantic tier, or ``None``."""
    for name, rule in rules:
        if rule(text, llm_string):
            return name
    return None
