"""Instructions: a task plus ordered constraints, rendered into one user message by a template.

``render`` is a pure function of (task, constraint texts, template). HiR's rewrite keeps the
constraints a response satisfied, in their original order, with the original task and
template (METHOD.md, HiR step 4), so a rewritten prompt reads like one from the same data.

The six templates, shown for task ``T`` and constraint texts ``A`` and ``B``:

- ``sentences``: ``"T A B"``, constraints appended as running sentences;
- ``newline``: ``"T\\nA B"``, the same after a newline;
- ``numbered``: ``"T\\nThe output must follow the following rules:\\n1. A\\n2. B"``;
- ``dashed``: ``"T\\n- A\\n- B"``, a dash-bulleted list;
- ``before``: ``"A B\\nT"``, constraints placed before the task;
- ``lines``: ``"T\\nA\\nB"``, one constraint per line.

With no constraints every template renders the task alone. A seventh name, ``ifeval``
(:data:`VERBATIM`), marks a prompt stored verbatim, with its constraints written into the
task text by a human (IFEval and other external data); it renders as the task, and its
constraints cannot be removed by ``rewrite``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hir_core import constraints as constraint_registry

VERBATIM = "ifeval"
RULES_HEADER = "The output must follow the following rules:"


def _render_sentences(task: str, texts: list[str]) -> str:
    return f"{task} {' '.join(texts)}"


def _render_newline(task: str, texts: list[str]) -> str:
    return f"{task}\n{' '.join(texts)}"


def _render_numbered(task: str, texts: list[str]) -> str:
    rules = "\n".join(f"{i}. {text}" for i, text in enumerate(texts, start=1))
    return f"{task}\n{RULES_HEADER}\n{rules}"


def _render_dashed(task: str, texts: list[str]) -> str:
    bullets = "\n".join(f"- {text}" for text in texts)
    return f"{task}\n{bullets}"


def _render_before(task: str, texts: list[str]) -> str:
    return f"{' '.join(texts)}\n{task}"


def _render_lines(task: str, texts: list[str]) -> str:
    return "\n".join([task, *texts])


_RENDERERS = {
    "sentences": _render_sentences,
    "newline": _render_newline,
    "numbered": _render_numbered,
    "dashed": _render_dashed,
    "before": _render_before,
    "lines": _render_lines,
}
TEMPLATES: tuple[str, ...] = tuple(_RENDERERS)


def _check_template(template: str) -> None:
    if template not in _RENDERERS and template != VERBATIM:
        raise ValueError(f"unknown template {template!r}; known: {TEMPLATES + (VERBATIM,)}")


def render(task: str, constraints: Sequence[Mapping[str, Any]], template: str) -> str:
    """The user message for ``task`` with the ``"text"`` of each constraint, in order."""
    _check_template(template)
    if template == VERBATIM:
        return task
    texts = [constraint["text"] for constraint in constraints]
    if not texts:
        return task
    return _RENDERERS[template](task, texts)


@dataclass(frozen=True)
class Instruction:
    """A task, its ordered constraints (``{"id", "kwargs", "text"}`` dicts) and a template."""

    task: str
    constraints: tuple[dict, ...] = field(default_factory=tuple)
    template: str = "lines"

    def __post_init__(self) -> None:
        _check_template(self.template)
        object.__setattr__(self, "constraints", tuple(self.constraints))
        for position, constraint in enumerate(self.constraints):
            missing = {"id", "kwargs", "text"} - set(constraint)
            if missing:
                raise ValueError(f"constraint {position} lacks keys {sorted(missing)}")

    @property
    def prompt(self) -> str:
        """The rendered user message."""
        return render(self.task, self.constraints, self.template)

    @property
    def constraint_ids(self) -> list[str]:
        return [constraint["id"] for constraint in self.constraints]

    @property
    def separable(self) -> bool:
        """Whether constraints can be removed from the prompt (false for verbatim prompts)."""
        return self.template != VERBATIM


def rewrite(instruction: Instruction, keep_mask: Sequence[bool]) -> Instruction:
    """The instruction with only the constraints where ``keep_mask`` is true, order and
    template unchanged (HiR's hindsight relabelling)."""
    if len(keep_mask) != len(instruction.constraints):
        raise ValueError(
            f"keep_mask has {len(keep_mask)} entries for {len(instruction.constraints)} constraints"
        )
    kept = tuple(c for c, keep in zip(instruction.constraints, keep_mask) if keep)
    if len(kept) < len(instruction.constraints) and not instruction.separable:
        raise ValueError(
            "cannot drop constraints from a verbatim (template 'ifeval') prompt: "
            "its constraint sentences are part of the task text"
        )
    return Instruction(task=instruction.task, constraints=kept, template=instruction.template)


def make_constraint(id: str, kwargs: Mapping[str, Any] | None = None, seed: int = 0) -> dict:
    """A constraint dict with validated kwargs and its description (``seed`` picks a wording)."""
    constraint_type = constraint_registry.get(id)
    validated = constraint_type.validate(dict(kwargs or {}))
    return {"id": id, "kwargs": validated, "text": constraint_type.describe(validated, seed=seed)}
