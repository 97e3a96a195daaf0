"""A gemma3 vision projector (``clip`` arch, SigLIP-style encoder) for a gemma3 text model.

Images are resized to IMAGE_SIZE, cut into PATCH-pixel patches, encoded, then
average-pooled 4x4 (llama.cpp's default merge for gemma3) and projected to the
text model's embedding size: (IMAGE_SIZE / PATCH / 4)^2 = 16 tokens per image.
"""
from __future__ import annotations

from pathlib import Path

from ._gguf import Metadata, Weights, read_header, write

IMAGE_SIZE, PATCH = 224, 14
N_EMBD, N_HEAD, N_LAYER, N_FF = 32, 2, 2, 48  # n_ff != n_embd: llama.cpp takes equal ones for swapped up/down


def build(out: Path, base: Path, seed: int) -> Path:
    kv = read_header(base)[0]
    arch = kv["general.architecture"][0].decode()
    text_embd = kv[f"{arch}.embedding_length"][0]
    n_patches = (IMAGE_SIZE // PATCH) ** 2

    meta = Metadata()
    meta.add("general.name", "kit-mmproj-gemma3")
    meta.add("clip.projector_type", "gemma3")
    meta.add("clip.has_vision_encoder", True)
    meta.add("clip.use_gelu", True)
    meta.add("clip.vision.image_size", IMAGE_SIZE)
    meta.add("clip.vision.patch_size", PATCH)
    meta.add("clip.vision.embedding_length", N_EMBD)
    meta.add("clip.vision.feed_forward_length", N_FF)
    meta.add("clip.vision.block_count", N_LAYER)
    meta.add("clip.vision.attention.head_count", N_HEAD)
    meta.add("clip.vision.attention.layer_norm_epsilon", 1e-6)
    meta.add("clip.vision.projection_dim", text_embd)
    meta.add("clip.vision.image_mean", [0.5, 0.5, 0.5])
    meta.add("clip.vision.image_std", [0.5, 0.5, 0.5])

    w = Weights(seed)
    w.normal("v.patch_embd.weight", (PATCH, PATCH, 3, N_EMBD), std=0.05)
    w.normal("v.patch_embd.bias", (N_EMBD,))
    w.normal("v.position_embd.weight", (N_EMBD, n_patches))
    for i in range(N_LAYER):
        for t in ("attn_q", "attn_k", "attn_v", "attn_out"):
            w.normal(f"v.blk.{i}.{t}.weight", (N_EMBD, N_EMBD), std=0.2)
            w.normal(f"v.blk.{i}.{t}.bias", (N_EMBD,))
        for norm in ("ln1", "ln2"):
            w.const(f"v.blk.{i}.{norm}.weight", (N_EMBD,), 1.0)
            w.const(f"v.blk.{i}.{norm}.bias", (N_EMBD,), 0.0)
        w.normal(f"v.blk.{i}.ffn_up.weight", (N_EMBD, N_FF), std=0.2)
        w.normal(f"v.blk.{i}.ffn_up.bias", (N_FF,))
        w.normal(f"v.blk.{i}.ffn_down.weight", (N_FF, N_EMBD), std=0.2)
        w.normal(f"v.blk.{i}.ffn_down.bias", (N_EMBD,))
    w.const("v.post_ln.weight", (N_EMBD,), 1.0)
    w.const("v.post_ln.bias", (N_EMBD,), 0.0)
    w.const("mm.soft_emb_norm.weight", (N_EMBD,), 1.0)
    w.normal("mm.input_projection.weight", (text_embd, N_EMBD), std=0.2)
    return write(out, "clip", meta, w.tensors)
