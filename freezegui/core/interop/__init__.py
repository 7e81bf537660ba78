"""Interop: the freeze selection in the formats other fine-tuning tools read, and back.

Each format module offers ``to_<format>(tree, trainable, ...) -> str`` and, where the format can be
read back, ``from_<format>(text, ...) -> RuleSet``. Everything here works on a :class:`ModuleTree`
(built on the meta device if need be) and never imports the tools themselves.
"""
