"""SAM's mask decoder for many point prompts on one image, the image-side work done once.

Both mask generators (:mod:`.generate`, exact mode, and :mod:`.fast`) decode with
:func:`decode_shared_image`. torch is imported only inside functions.
"""
from __future__ import annotations

import math

__all__ = ["decode_shared_image"]


def _attention_heads(attention, tensor):
    """(..., N, D) -> (..., heads, N, D/heads), as segment_anything's Attention does."""
    *lead, tokens, dim = tensor.shape
    return tensor.reshape(*lead, tokens, attention.num_heads, dim // attention.num_heads).transpose(-3, -2)


def _merge_heads(tensor):
    """(..., heads, N, c) -> (..., N, heads*c)."""
    *lead, heads, tokens, channels = tensor.shape
    return tensor.transpose(-3, -2).reshape(*lead, tokens, heads * channels)


def decode_shared_image(decoder, image_embeddings, image_pe, sparse, dense, multimask_output=True):
    """``MaskDecoder.forward`` for B point prompts on ONE image, image-side work done once.

    segment_anything repeats the image embedding once per prompt, so the decoder's first
    layer projects the same 64×64 image tokens B times (token→image keys and values,
    image→token queries). Here they are projected once and broadcast; every other step
    is the decoder's own, in the same order. Same outputs up to float rounding.

    Args:
        decoder: a ``segment_anything.modeling.MaskDecoder``.
        image_embeddings: (1, C, h, w) from the image encoder.
        image_pe: (1, C, h, w) dense positional encoding.
        sparse: (B, N, C) point embeddings; dense: (B, C, h, w), the same for every
            prompt (no mask input), as the prompt encoder gives without masks.

    Returns:
        (masks (B, M, 4h, 4w) logits, iou_pred (B, M)), M = 3 with multimask_output.
    """
    import torch

    transformer = decoder.transformer
    batch = sparse.shape[0]
    output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    tokens = torch.cat((output_tokens.unsqueeze(0).expand(batch, -1, -1), sparse), dim=1)
    _, channels, height, width = image_embeddings.shape
    image = (image_embeddings + dense[:1]).flatten(2).permute(0, 2, 1)  # (1, hw, C)
    position = image_pe.flatten(2).permute(0, 2, 1)                       # (1, hw, C)

    first = transformer.layers[0]
    # Layer 0 skips the query positional encoding in its self-attention.
    queries = first.norm1(first.self_attn(q=tokens, k=tokens, v=tokens))

    # Tokens attend to the image: image keys and values are the same for every prompt.
    attention = first.cross_attn_token_to_image
    q = _attention_heads(attention, attention.q_proj(queries + tokens))    # (B, H, N, c)
    k = _attention_heads(attention, attention.k_proj(image + position))[0]  # (H, hw, c)
    v = _attention_heads(attention, attention.v_proj(image))[0]             # (H, hw, c)
    heads, token_count, head_dim = q.shape[1], q.shape[2], q.shape[3]
    q = q.transpose(0, 1).reshape(heads, batch * token_count, head_dim)     # one bmm over heads
    weights = torch.softmax((q @ k.transpose(1, 2)) / math.sqrt(head_dim), dim=-1)
    out = (weights @ v).reshape(heads, batch, token_count, head_dim).transpose(0, 1)
    queries = first.norm2(queries + attention.out_proj(_merge_heads(out)))
    queries = first.norm3(queries + first.mlp(queries))

    # The image attends to the tokens: its queries are the same for every prompt.
    attention = first.cross_attn_image_to_token
    q = _attention_heads(attention, attention.q_proj(image + position))[0]  # (H, hw, c)
    k = _attention_heads(attention, attention.k_proj(queries + tokens))     # (B, H, N, c)
    v = _attention_heads(attention, attention.v_proj(queries))              # (B, H, N, c)
    weights = torch.softmax((q.unsqueeze(0) @ k.transpose(-1, -2)) / math.sqrt(head_dim), dim=-1)
    keys = first.norm4(image + attention.out_proj(_merge_heads(weights @ v)))  # (B, hw, C)

    for layer in transformer.layers[1:]:
        queries, keys = layer(queries=queries, keys=keys, query_pe=tokens, key_pe=position)
    attn_out = transformer.final_attn_token_to_image(q=queries + tokens, k=keys + position, v=keys)
    hidden = transformer.norm_final_attn(queries + attn_out)

    upscaled = decoder.output_upscaling(keys.transpose(1, 2).reshape(batch, channels, height, width))
    # The small heads may be kept in float32 in a half-precision decoder (fast mode:
    # predicted IoUs near the threshold then keep their float32 resolution); in a
    # float32 decoder these casts do nothing.
    head_dtype = decoder.iou_prediction_head.layers[0].weight.dtype
    hyper_in = torch.stack(
        [mlp(hidden[:, 1 + index, :].to(head_dtype)) for index, mlp in enumerate(decoder.output_hypernetworks_mlps)],
        dim=1,
    ).to(upscaled.dtype)
    _, up_channels, up_height, up_width = upscaled.shape
    masks = (hyper_in @ upscaled.reshape(batch, up_channels, up_height * up_width)).reshape(batch, -1, up_height, up_width)
    iou_pred = decoder.iou_prediction_head(hidden[:, 0, :].to(head_dtype))
    selected = slice(1, None) if multimask_output else slice(0, 1)
    return masks[:, selected], iou_pred[:, selected]
