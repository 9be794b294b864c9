"""SAM's ViT image encoder with fused attention, for several images at once (fast mode).

segment-anything's ``Attention`` (``modeling/image_encoder.py``) materialises the
softmax input ``(q·scale) @ kᵀ`` and adds MViTv2's decomposed relative position
terms to it (``add_decomposed_rel_pos``: one term per query row and key row, one per
query column and key column). Here the same sum is given to
``torch.nn.functional.scaled_dot_product_attention`` as its additive ``attn_mask``:
``softmax(q kᵀ · head_dim^-0.5 + bias) v`` is what SAM computes, and the fused kernel
never writes the attention weights out. The position tables ``get_rel_pos`` picks from
the learned embeddings depend only on the weights and the (fixed) window sizes, so
they are gathered once per encoder, not once per call.

Every other step (patch embedding, absolute position embedding, window partition,
MLP, neck) is SAM's own module, called as SAM calls it. The tests check the outputs
against ``ImageEncoderViT.forward`` in float32.

torch and segment_anything are imported only inside functions.
"""
from __future__ import annotations

from typing import Any, List, Tuple

__all__ = ["is_sam_vit", "rel_pos_tables", "rel_pos_bias", "sdpa_attention", "SdpaEncoder"]


def is_sam_vit(encoder) -> bool:
    """Whether ``encoder`` is segment-anything's ``ImageEncoderViT`` with relative positions
    (every released SAM); MobileSAM's TinyViT is not."""
    blocks = getattr(encoder, "blocks", None)
    return (type(encoder).__name__ == "ImageEncoderViT" and blocks is not None and len(blocks) > 0
            and all(getattr(block.attn, "use_rel_pos", False) for block in blocks))


def rel_pos_tables(attention, size: Tuple[int, int]):
    """``(Rh (h, h, C), Rw (w, w, C))``: SAM's ``get_rel_pos`` tables for a square
    ``size`` attention (queries and keys on the same grid)."""
    from segment_anything.modeling.image_encoder import get_rel_pos

    height, width = size
    return get_rel_pos(height, height, attention.rel_pos_h), get_rel_pos(width, width, attention.rel_pos_w)


def rel_pos_bias(q, rel_h_table, rel_w_table, size: Tuple[int, int]):
    """The decomposed relative position terms as an additive attention bias.

    Args:
        q: (B, heads, h·w, C) queries (unscaled, as SAM uses them for these terms).
        rel_h_table, rel_w_table: :func:`rel_pos_tables` (h, h, C) and (w, w, C).
        size: (h, w) of the query and key grid.

    Returns:
        (B, heads, h·w, h·w) bias in ``q``'s dtype: ``bias[.., (i, j), (k, l)] =
        q[(i, j)]·Rh[i, k] + q[(i, j)]·Rw[j, l]``, as ``add_decomposed_rel_pos`` adds.
    """
    import torch

    height, width = size
    batch, heads, _, channels = q.shape
    grid = q.reshape(batch, heads, height, width, channels)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", grid, rel_h_table.to(q.dtype))
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", grid, rel_w_table.to(q.dtype))
    bias = rel_h[:, :, :, :, :, None] + rel_w[:, :, :, :, None, :]
    return bias.reshape(batch, heads, height * width, height * width)


def sdpa_attention(attention, x, tables):
    """``Attention.forward`` of segment-anything with fused scaled-dot-product attention.

    Args:
        attention: a ``segment_anything.modeling.image_encoder.Attention`` (``use_rel_pos``).
        x: (B, h, w, dim) tokens.
        tables: its :func:`rel_pos_tables` for (h, w).

    Returns:
        (B, h, w, dim), as ``attention(x)``.
    """
    import torch.nn.functional as F

    batch, height, width, _ = x.shape
    qkv = attention.qkv(x).reshape(batch, height * width, 3, attention.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)  # each (B, heads, h·w, C)
    bias = rel_pos_bias(q, tables[0], tables[1], (height, width))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    out = out.view(batch, attention.num_heads, height, width, -1).permute(0, 2, 3, 1, 4)
    return attention.proj(out.reshape(batch, height, width, -1))


def _block_forward(block, x, tables):
    """``Block.forward`` of segment-anything with :func:`sdpa_attention`."""
    from segment_anything.modeling.image_encoder import window_partition, window_unpartition

    shortcut = x
    x = block.norm1(x)
    if block.window_size > 0:
        height, width = x.shape[1], x.shape[2]
        x, pad_hw = window_partition(x, block.window_size)
    x = sdpa_attention(block.attn, x, tables)
    if block.window_size > 0:
        x = window_unpartition(x, block.window_size, pad_hw, (height, width))
    x = shortcut + x
    return x + block.mlp(block.norm2(x))


class SdpaEncoder:
    """A SAM ViT encoder's forward pass with fused attention (a callable, not a copy).

    Holds the encoder and each block's relative position tables; calling it with
    (B, 3, S, S) normalised, padded pixels (``Sam.preprocess`` per image, stacked) gives
    the (B, 256, S/16, S/16) image embeddings ``encoder(pixels)`` gives.
    """

    def __init__(self, encoder):
        if not is_sam_vit(encoder):
            raise ValueError("fused attention is for segment-anything's ViT encoder (SAM vit_b/l/h)")
        self.encoder = encoder
        grid = encoder.img_size // encoder.patch_embed.proj.kernel_size[0]
        self.tables: List[Any] = []
        for block in encoder.blocks:
            size = (block.window_size, block.window_size) if block.window_size > 0 else (grid, grid)
            self.tables.append(tuple(t.detach() for t in rel_pos_tables(block.attn, size)))

    def __call__(self, pixels):
        encoder = self.encoder
        x = encoder.patch_embed(pixels)
        if encoder.pos_embed is not None:
            x = x + encoder.pos_embed
        for block, tables in zip(encoder.blocks, self.tables):
            x = _block_forward(block, x, tables)
        return encoder.neck(x.permute(0, 3, 1, 2))
