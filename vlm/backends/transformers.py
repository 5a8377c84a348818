"""Local, in-process inference with transformers: the embedded default.

Inputs are prepared exactly as the Qwen team's reference pipeline does (qwen-vl-utils'
`fetch_image`, then the checkpoint's processor), so the model sees the same pixels and
the same number of visual tokens it was evaluated with. torch and transformers are
imported when the backend is built, never when pixelpilot is imported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from ..backend import (
    BackendError,
    Completion,
    Conversation,
    GenerationParams,
    ModelNotFoundError,
    Timings,
    Usage,
    as_batch,
)
from ..messages import (
    image_ref,
    is_image,
    is_video,
    load_image,
    parts,
    pixel_limits,
    prepare_image,
    to_rgb,
)
from ..resize import FACTOR, PATCH_SIZE

_MERGE_AREA = (FACTOR // PATCH_SIZE) ** 2  # 2x2 patches make one visual token

_HUB_HELP = (
    "Pass a local folder with the checkpoint (model='/path/to/Qwen2-VL-7B-Instruct'), "
    "download it first on a machine with access (huggingface-cli download <id>), or use "
    "an OpenAI-compatible server instead (load_backend('openai', base_url=...)). "
    "Set HF_HUB_OFFLINE=1 to never reach out to the hub."
)


def resolve_checkpoint(model: str | Path) -> str:
    """A local folder for `model`, or a hub id whose files are cached or reachable.

    Fails in seconds with what to do instead of letting the hub client retry for minutes
    when there is no network."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(
                f"{path} has no config.json: not a checkpoint folder. {_HUB_HELP}"
            )
        return str(path)
    name = str(model)
    if name.startswith((".", "/", "~")) or name.count("/") != 1:  # a path, not "org/name"
        raise ModelNotFoundError(f"no checkpoint folder at {path}. {_HUB_HELP}")
    from huggingface_hub import model_info, snapshot_download

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:  # not cached: only try the network if it is allowed and answers
        pass
    missing = f"there is no folder {path} and {name!r} is not in the local hub cache"
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise ModelNotFoundError(f"{missing}, and HF_HUB_OFFLINE is set. {_HUB_HELP}")
    try:
        model_info(name, timeout=5)
    except Exception as error:
        raise ModelNotFoundError(
            f"{missing}, and the hub did not answer ({type(error).__name__}). {_HUB_HELP}"
        ) from None
    return name


def load_processor(checkpoint: str) -> Any:
    """The checkpoint's processor; without torchvision (a CPU-only torch build) the stock
    one refuses to load for want of a video processor, so images go through an image-only
    processor built on the Pillow image processor instead."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(checkpoint)
    except ImportError as error:
        if "orchvision" not in str(error):
            raise
    return _image_only_processor(checkpoint)


def _image_only_processor(checkpoint: str) -> Any:
    from transformers import (
        AutoConfig,
        AutoImageProcessor,
        AutoTokenizer,
        Qwen2_5_VLProcessor,
        Qwen2VLProcessor,
    )

    family = AutoConfig.from_pretrained(checkpoint).model_type
    base = Qwen2_5_VLProcessor if family == "qwen2_5_vl" else Qwen2VLProcessor

    class ImageOnlyProcessor(base):  # type: ignore[misc, valid-type]
        attributes = ["image_processor", "tokenizer"]  # noqa: RUF012 (transformers API)

        def __init__(self, image_processor: Any, tokenizer: Any, chat_template: Any = None) -> None:
            super().__init__(
                image_processor=image_processor,
                tokenizer=tokenizer,
                video_processor=None,
                chat_template=chat_template,
            )

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    return ImageOnlyProcessor(
        AutoImageProcessor.from_pretrained(checkpoint), tokenizer, tokenizer.chat_template
    )


def _attention(choice: str, on_gpu: bool) -> str:
    if choice != "auto":
        return choice
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return "sdpa"
    return "flash_attention_2" if on_gpu else "sdpa"


class TransformersBackend:
    """Qwen2-VL, Qwen2.5-VL and UI-TARS checkpoints through AutoModelForImageTextToText."""

    def __init__(
        self,
        model: str | Path,
        *,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        dtype: str = "auto",
        device: str | None = None,
        device_map: str | dict | None = None,
        attn_implementation: str = "auto",
        preprocess: Literal["qwen-vl-utils", "processor"] = "qwen-vl-utils",
    ) -> None:
        """`preprocess` picks the reference the pixels must equal: "qwen-vl-utils" (the Qwen
        team's pipeline: Pillow resizes, then the processor) or "processor" (the processor
        alone resizes, as a vLLM server does with the images it receives; faster)."""
        import torch
        from transformers import AutoModelForImageTextToText

        if preprocess not in ("qwen-vl-utils", "processor"):
            raise ValueError(
                f"preprocess must be 'qwen-vl-utils' or 'processor', not {preprocess!r}"
            )
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.preprocess = preprocess
        self.checkpoint = resolve_checkpoint(model)
        on_gpu = torch.cuda.is_available() and device != "cpu"
        self.device = device or ("cuda" if on_gpu else "cpu")
        if dtype == "auto":  # bf16 is slower than fp32 on CPUs without AMX
            dtype = "bfloat16" if on_gpu else "float32"
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(
                f"dtype must be 'auto' or a torch dtype name like 'bfloat16', not {dtype!r}"
            )
        self.processor = load_processor(self.checkpoint)
        self.processor.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        self.model = AutoModelForImageTextToText.from_pretrained(
            self.checkpoint,
            dtype=getattr(torch, dtype),
            device_map=device_map,
            attn_implementation=_attention(attn_implementation, on_gpu),
        )
        if device_map is None:
            self.model.to(self.device)
        self.model.eval()
        self._eos = _eos_ids(self.model, self.processor.tokenizer)

    # -- inputs ------------------------------------------------------------------
    def prepare_inputs(self, conversations: Sequence[Conversation]) -> Any:
        """Model-ready tensors for a batch, equal to the chosen reference pipeline."""
        batch = as_batch(conversations)
        texts = [
            self.processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in batch
        ]
        images, videos, metadata = [], [], []
        for conversation in batch:
            for part in (p for m in conversation for p in parts(m.get("content"))):
                if is_image(part):
                    images.append(self._image(part))
                elif is_video(part):
                    frames, meta = _video(part)
                    videos.append(frames)
                    metadata.append(meta)
        kwargs: dict[str, Any] = {}
        if images and (self.min_pixels is not None or self.max_pixels is not None):
            lo, hi = pixel_limits({}, self.min_pixels, self.max_pixels)
            kwargs["images_kwargs"] = {"size": {"shortest_edge": lo, "longest_edge": hi}}
        if videos and getattr(self.processor, "video_processor", None) is None:
            raise BackendError(
                "video input needs torchvision (transformers' video processor); install "
                "torch with its matching torchvision, or send the frames as images"
            )
        if videos:  # the sampling rate tells Qwen2.5-VL how far apart frames are in time
            kwargs["videos_kwargs"] = {"cap_pixels_per_frame": True, "do_sample_frames": False}
            kwargs["video_metadata"] = metadata
        return self.processor(
            text=texts, images=images or None, videos=videos or None,
            padding=True, return_tensors="pt", **kwargs,
        )  # fmt: skip

    def _image(self, part: dict[str, Any]) -> Any:
        """Resized here like qwen-vl-utils, or left for the processor to resize. An image
        with its own pixel limits is always resized here: the processor takes one set.
        Without limits given, the processor keeps the checkpoint's own, as the reference
        pipeline and a server do."""
        own_limits = "min_pixels" in part or "max_pixels" in part or "resized_height" in part
        if self.preprocess == "qwen-vl-utils" or own_limits:
            return prepare_image(part, min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        return to_rgb(load_image(image_ref(part)))

    # -- generation --------------------------------------------------------------
    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        import torch

        params = params or GenerationParams()
        batch = as_batch(conversations)
        start = time.perf_counter()
        inputs = self.prepare_inputs(batch).to(self.model.device)
        prepared = time.perf_counter()
        options = self._decoding(params)
        if params.stop:
            options["stopping_criteria"] = _stop_on_text(
                params.stop, inputs["input_ids"].shape[1], self.processor.tokenizer
            )
        with torch.inference_mode():
            output = self.model.generate(**inputs, **options)
        generated = output[:, inputs["input_ids"].shape[1] :].cpu()
        done = time.perf_counter()
        timings = Timings(
            preprocess_s=prepared - start, model_s=done - prepared, total_s=done - start
        )
        return self._completions(batch, inputs, generated, timings, params.stop)

    def _decoding(self, params: GenerationParams) -> dict[str, Any]:
        import torch

        options: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "eos_token_id": self._eos,
            "pad_token_id": self.processor.tokenizer.pad_token_id,
        }
        if params.greedy:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            options.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            if params.top_k is not None:
                options["top_k"] = params.top_k
        if params.repetition_penalty is not None:
            options["repetition_penalty"] = params.repetition_penalty
        return options

    def _completions(
        self, batch, inputs, generated, timings: Timings, stop: Sequence[str]
    ) -> list[Completion]:
        images = _rows(inputs.get("image_grid_thw"))
        videos = _rows(inputs.get("video_grid_thw"))
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        results = []
        for row, conversation in enumerate(batch):
            content = [p for m in conversation for p in parts(m.get("content"))]
            mine = _take(images, sum(1 for p in content if is_image(p)))
            clips = _take(videos, sum(1 for p in content if is_video(p)))
            tokens, ended = _until_eos(generated[row].tolist(), self._eos)
            text = self.processor.tokenizer.decode(tokens, skip_special_tokens=False)
            text, stopped = _cut_at_stop(text, stop)
            usage = Usage(
                prompt_tokens=int(prompt_lengths[row]),
                visual_tokens=sum(t * h * w for t, h, w in mine + clips) // _MERGE_AREA,
                completion_tokens=len(tokens),
            )
            results.append(
                Completion(
                    text=text,
                    usage=usage,
                    timings=timings,
                    image_sizes=tuple((w * PATCH_SIZE, h * PATCH_SIZE) for _, h, w in mine),
                    finish_reason="stop" if ended or stopped else "length",
                )
            )
        return results


def _rows(grid: Any) -> list[tuple[int, int, int]]:
    return [] if grid is None else [(int(t), int(h), int(w)) for t, h, w in grid.tolist()]


def _take(rows: list[tuple[int, int, int]], count: int) -> list[tuple[int, int, int]]:
    """The next `count` grid rows: the processor lists them for the whole batch in order."""
    taken = rows[:count]
    del rows[:count]
    return taken


def _stop_on_text(stop: Sequence[str], prompt_length: int, tokenizer: Any) -> Any:
    """Stop a row once its reply contains a stop string. transformers' own stop_strings
    also match across the end of the prompt ("assistant\n" + "\n" is "\n\n"); servers
    only look at the reply, and so does this."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopOnText(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            replies = tokenizer.batch_decode(
                input_ids[:, prompt_length:], skip_special_tokens=False
            )
            hits = [any(s in reply for s in stop) for reply in replies]
            return torch.tensor(hits, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopOnText()])


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text up to the first stop string, as OpenAI-compatible servers return it."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _video(part: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Frames of a video part and their sampling metadata: a list of images as given
    (at `sample_fps`, default 2), or a file sampled by the Qwen2-VL rules."""
    video = part["video"]
    if isinstance(video, list | tuple):
        count = len(video)
        fps = float(part.get("sample_fps", 2.0))
        return list(video), {
            "fps": fps,
            "frames_indices": list(range(count)),
            "total_num_frames": count,
        }
    from ..video import load_video

    options = {
        k: part[k]
        for k in ("fps", "min_pixels", "max_pixels", "total_pixels", "max_frames", "nframes")
        if k in part
    }
    clip = load_video(video, **options)
    meta = {
        "fps": clip.source_fps,
        "frames_indices": clip.indices,
        "total_num_frames": clip.total_frames,
    }
    return clip.frames, meta


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    for token in ("<|im_end|>", "<|endoftext|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id >= 0 and token_id not in ids:
            ids.append(token_id)
    if not ids:
        raise BackendError("the checkpoint defines no end-of-sequence token")
    return ids


def _until_eos(tokens: list[int], eos: list[int]) -> tuple[list[int], bool]:
    """The reply without its end token and the padding after it; whether it ended."""
    for i, token in enumerate(tokens):
        if token in eos:
            return tokens[:i], True
    return tokens, False
