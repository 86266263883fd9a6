"""The Identity every compatibility check reads: format, role, family and the facts behind them.

Fact names are a contract with `modelctl/compat/` and with manifests' `expect:` blocks:
`embedding_length`, `cap_feat_dim`, `dim`, `in_channels`, `latent_channels`, `vae_dims`,
`architecture`, `block_count`, `vocab_size`, `tokenizer_embedded`, `tokenizer_model`,
`svdquant {precision, rank}`, `norm_shift_baked`, `general_type`, `file_type`, ...
A fact is only present when it was read from the file (never guessed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Identity:
    """What a file is. `rule` names the identification rule that decided role and family.

    `format`: gguf, safetensors, sentencepiece, pickle, torch-zip, lfs-pointer, html, json or
    unknown. `role`: diffusion_model, text_encoder, vae, tokenizer, lora, mmproj or unknown.
    """

    format: str
    role: str = "unknown"
    family: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    rule: str | None = None
    source: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The issue's `identity` object: role, family and the facts, flat."""
        out: dict[str, Any] = {"format": self.format, "role": self.role, "family": self.family}
        out.update(self.facts)
        if self.rule:
            out["rule"] = {"id": self.rule, "source": self.source}
        return out
