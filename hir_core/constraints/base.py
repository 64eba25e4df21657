"""What a constraint type is: an id, a family, a validated argument schema, descriptions, a checker.

A type's ``rule`` decides one text. The strict and loose checks around it follow the IFEval
reference scorer, which IFBench's also follows: a blank response fails every constraint; the
loose check also tries the response with its first line, its last line or both removed, each
with and without ``*`` characters, and passes if any of those non-blank variants passes.

A family whose reference scorer does neither (MulDimIF: no blank-response rule, no loose
variants) says so with ``blank_response_fails=False`` and ``loose_variants=False``; its loose
verdict is then its strict verdict.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class UnknownConstraintError(KeyError, ValueError):
    """A constraint id that no registered type has."""

    def __init__(self, constraint_id: object, known: Sequence[str]):
        self.constraint_id = constraint_id
        super().__init__(
            f"unknown constraint id {constraint_id!r}; known ids: {', '.join(sorted(known))}"
        )

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class ConstraintArgumentError(ValueError):
    """A keyword argument of a constraint that is missing, unexpected or malformed."""

    def __init__(self, constraint_id: str, argument: str, problem: str):
        self.constraint_id = constraint_id
        self.argument = argument
        super().__init__(f"{constraint_id}: argument {argument!r} {problem}")


@dataclass(frozen=True)
class Arg:
    """One keyword argument: its kind and the values it admits.

    ``kind`` is ``int``, ``str`` or ``list`` (a non-empty list of non-empty strings). A value
    of None counts as absent: IFEval-style data lists every argument of every type with None
    where unused.
    """

    name: str
    kind: type
    description: str
    minimum: int | None = None
    choices: tuple[str, ...] | None = None
    optional: bool = False
    normalise: Callable[[str], str] | None = None  # applied to strings before the checks

    def coerce(self, constraint_id: str, value: Any) -> Any:
        if self.kind is int:
            return self._coerce_int(constraint_id, value)
        if self.kind is str:
            return self._coerce_str(constraint_id, value)
        return self._coerce_words(constraint_id, value)

    def _error(self, constraint_id: str, problem: str) -> ConstraintArgumentError:
        return ConstraintArgumentError(constraint_id, self.name, problem)

    def _coerce_int(self, constraint_id: str, value: Any) -> int:
        if type(value) is not int:  # the common case skips the abstract-class checks
            value = self._integral(constraint_id, value)
        if self.minimum is not None and value < self.minimum:
            raise self._error(constraint_id, f"must be >= {self.minimum}, got {value}")
        return value

    def _integral(self, constraint_id: str, value: Any) -> int:
        # Integral floats are accepted: tables with missing values store integers as floats.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self._error(constraint_id, f"must be an integer, got {value!r}")
        return int(value)

    def _coerce_str(self, constraint_id: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self._error(constraint_id, f"must be a string, got {value!r}")
        if self.normalise is not None:
            value = self.normalise(value)
        if not value.strip():
            raise self._error(constraint_id, "must be a non-empty string")
        if self.choices is not None and value not in self.choices:
            raise self._error(constraint_id, f"must be one of {list(self.choices)}, got {value!r}")
        return value

    def _coerce_words(self, constraint_id: str, value: Any) -> list[str]:
        if isinstance(value, str) or not isinstance(value, Sequence) or not value:
            raise self._error(constraint_id, f"must be a non-empty list of strings, got {value!r}")
        for word in value:
            if not isinstance(word, str) or not word.strip():
                raise self._error(constraint_id, f"must hold non-empty strings, got {word!r}")
        return list(value)


Rule = Callable[[str, dict], bool]
Sampler = Callable[[random.Random], dict]


def _no_kwargs(rng: random.Random) -> dict:
    return {}


class ConstraintType:
    """A verifiable constraint type, such as ``punctuation:no_comma``.

    Args:
        id: the IFEval instruction id.
        rule: decides whether one non-blank text satisfies the constraint, given validated
            kwargs.
        phrasings: ``str.format`` templates of the sentence a model reads; ``describe`` picks
            one by seed.
        args: the keyword-argument schema.
        sample: draws realistic kwargs for synthetic prompts.
        fields: turns validated kwargs into the ``phrasings`` fields (default: the kwargs).
        cross_check: validates relations between arguments; returns (argument, problem) or
            None.
        needs_prompt: the kwargs depend on the prompt text (see ``bind_prompt``).
        family: the verifier family (``ifeval``, ``ifbench``, ``muldimif``): which reference
            scorer the type restates, and the verl ``data_source`` of rows that use it.
        blank_response_fails: a blank (empty or whitespace) response fails without calling
            the rule (IFEval and IFBench); False hands it to the rule (MulDimIF).
        loose_variants: the loose check tries the IFEval variants of the response; False makes
            the loose verdict the strict one (MulDimIF has no loose mode).
    """

    def __init__(
        self,
        id: str,
        rule: Rule,
        phrasings: Sequence[str],
        args: Sequence[Arg] = (),
        sample: Sampler = _no_kwargs,
        fields: Callable[[dict], dict] | None = None,
        cross_check: Callable[[dict], tuple[str, str] | None] | None = None,
        needs_prompt: bool = False,
        family: str = "ifeval",
        blank_response_fails: bool = True,
        loose_variants: bool = True,
    ):
        if not phrasings:
            raise ValueError(f"{id}: at least one phrasing is required")
        self.id = id
        self.args = tuple(args)
        self.needs_prompt = needs_prompt
        self.family = family
        self.blank_response_fails = blank_response_fails
        self.loose_variants = loose_variants
        self._rule = rule
        self._phrasings = tuple(phrasings)
        self._sample = sample
        self._fields = fields
        self._cross_check = cross_check
        self._arg_names = frozenset(arg.name for arg in self.args)

    def __repr__(self) -> str:
        return f"ConstraintType({self.id!r})"

    def validate(self, kwargs: Mapping[str, Any] | None) -> dict:
        """Normalised kwargs; raises ConstraintArgumentError naming this id and the argument."""
        if kwargs is None:
            kwargs = {}
        if type(kwargs) is not dict and not isinstance(kwargs, Mapping):
            raise ConstraintArgumentError(self.id, "kwargs", f"must be a mapping, got {kwargs!r}")
        for name, value in kwargs.items():
            if name not in self._arg_names and value is not None:
                expected = ", ".join(sorted(self._arg_names)) or "none"
                raise ConstraintArgumentError(
                    self.id, str(name), f"is not an argument of this type (arguments: {expected})"
                )
        normalised = {}
        for arg in self.args:
            value = kwargs.get(arg.name)
            if value is None:
                if not arg.optional:
                    raise ConstraintArgumentError(
                        self.id, arg.name, f"is missing ({arg.description})"
                    )
                continue
            normalised[arg.name] = arg.coerce(self.id, value)
        if self._cross_check is not None:
            problem = self._cross_check(normalised)
            if problem is not None:
                raise ConstraintArgumentError(self.id, *problem)
        return normalised

    def bind_prompt(self, kwargs: dict, prompt: str | None) -> dict:
        """Fill prompt-dependent arguments of validated kwargs from ``prompt``.

        Only ``combination:repeat_prompt`` has one: ``prompt_to_repeat``, the text the response
        must start with. Kwargs that carry it win (IFEval rows do: the request without the
        repeat sentence); otherwise ``prompt`` is used, so a prompt builder either stores the
        text to repeat in the kwargs or passes it at check time. Neither is an error.
        """
        if not self.needs_prompt or "prompt_to_repeat" in kwargs:
            return kwargs
        if prompt is None or not prompt.strip():
            raise ConstraintArgumentError(
                self.id,
                "prompt_to_repeat",
                "is missing: put the request text in the kwargs or pass prompt=... to the check",
            )
        return {**kwargs, "prompt_to_repeat": prompt}

    def describe(self, kwargs: Mapping[str, Any] | None, seed: int = 0) -> str:
        """The instruction sentence; ``seed`` picks among the phrasings (same seed, same text)."""
        validated = self.validate(kwargs)
        fields = self._fields(validated) if self._fields is not None else validated
        return self._phrasings[seed % len(self._phrasings)].format(**fields)

    def sample_kwargs(self, rng: random.Random) -> dict:
        """Realistic kwargs for a synthetic prompt (validated before they are returned)."""
        return self.validate(self._sample(rng))

    def check(
        self, response: str, kwargs: Mapping[str, Any] | None, prompt: str | None = None
    ) -> bool:
        """Strict verdict: the response as written."""
        return self.check_validated(response, self.bind_prompt(self.validate(kwargs), prompt))

    def check_loose(
        self, response: str, kwargs: Mapping[str, Any] | None, prompt: str | None = None
    ) -> bool:
        """Loose verdict: any of the response's loose variants passes."""
        validated = self.bind_prompt(self.validate(kwargs), prompt)
        return self.check_variants(LooseVariants(response), validated)

    def check_validated(self, response: str, kwargs: dict) -> bool:
        """Strict verdict for kwargs already validated and bound to the prompt."""
        if self.blank_response_fails and not response.strip():
            return False
        return bool(self._rule(response, kwargs))

    def check_variants(self, variants: LooseVariants, kwargs: dict) -> bool:
        """Loose verdict from ``LooseVariants(response)`` (made once per response)."""
        if not self.loose_variants:
            return self.check_validated(variants.response, kwargs)
        return any(self._rule(variant, kwargs) for variant in variants)


def loose_variants(response: str) -> tuple[str, ...]:
    """The non-blank texts the loose check tries, in the reference's order, without repeats.

    Repeats are dropped because every rule is a pure function of its text.
    """
    lines = response.split("\n")
    trimmed = (
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    )
    ordered = (trimmed[0], trimmed[0].replace("*", ""), *trimmed[1:])
    ordered += tuple(text.replace("*", "") for text in trimmed[1:])
    return tuple(text for text in dict.fromkeys(ordered) if text.strip())


class LooseVariants:
    """``loose_variants(response)``, iterated lazily: the response itself first, the other
    variants made only when a check needs them (a response that passes as written needs
    none). Shared by the constraints of one response."""

    def __init__(self, response: str):
        self.response = response
        self._others: tuple[str, ...] | None = None

    def __iter__(self) -> Iterator[str]:
        if not self.response.strip():
            return  # every variant of a blank response is blank
        yield self.response
        if self._others is None:
            self._others = loose_variants(self.response)[1:]
        yield from self._others
