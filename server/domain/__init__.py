"""The pure core: commands + state + time -> events, or a typed refusal naming the rule."""
