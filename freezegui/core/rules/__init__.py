"""The rule file: its format and keys, the YAML reader, the one pattern matcher, LoRA, the writer, apply."""
