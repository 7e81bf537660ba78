"""What a training script calls on a live model: apply_rules, param_groups, rules_from_model, Schedule."""
