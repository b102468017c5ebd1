"""The rubric language: schema, loader, one check module per rule type, and the engine."""
