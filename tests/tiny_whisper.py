"""A tiny Whisper model in faster-whisper's format (CTranslate2, converted by ctranslate2's own converter from a
transformers model built from a config) whose decoder plays a fixed script: a timestamp, the given words, a closing
timestamp, end of text. Its encoder and cross-attention are random, so the word times come from faster-whisper's
real alignment path; nothing is downloaded."""
from __future__ import annotations

from pathlib import Path


def build_scripted_whisper(dest: Path, words: list[str], end_s: float = 2.0) -> Path:
    import ctranslate2
    import torch
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    hf = dest.parent / f"{dest.name}-transformers"
    hf.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}   # the 256 byte symbols
    for w in words:
        vocab.setdefault("\u0120" + w, len(vocab))                                       # " word" as one token
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
                "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]   # timestamps follow <|notimestamps|>
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True) for s in specials])
    tok.save(str(hf / "tokenizer.json"))
    n_tok = tok.get_vocab_size()
    eot, sot = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|startoftranscript|>")
    cfg = WhisperConfig(vocab_size=n_tok + 1501, num_mel_bins=80, encoder_layers=1, encoder_attention_heads=2,
                        decoder_layers=1, decoder_attention_heads=2, d_model=64, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, max_source_positions=1500, max_target_positions=448,
                        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
                        suppress_tokens=[], begin_suppress_tokens=[])
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg).eval()
    # the decoder's blocks add nothing, so its output at position k is the layer norm of (token embedding +
    # position embedding k); position k's embedding points at the script's token k + 1
    script = [n_tok] + [vocab["\u0120" + w] for w in words] + [n_tok + round(end_s / 0.02), eot]
    dec = model.model.decoder
    with torch.no_grad():
        dec.embed_tokens.weight.normal_(0, 1)
        for layer in dec.layers:
            for lin in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                lin.weight.zero_()
                lin.bias.zero_()
        dec.embed_positions.weight.zero_()
        for k, t in enumerate(script):
            dec.embed_positions.weight[k] = 10 * dec.embed_tokens.weight[t]
    model.generation_config = GenerationConfig(suppress_tokens=[], begin_suppress_tokens=[],
                                               alignment_heads=[[0, 0], [0, 1]], decoder_start_token_id=sot)
    model.save_pretrained(hf)
    ctranslate2.converters.TransformersConverter(str(hf), copy_files=["tokenizer.json"]).convert(str(dest),
                                                                                                 force=True)
    return dest
