"""The gradual-unfreezing schedule on screen: its editor, its commands, the stage picker."""
