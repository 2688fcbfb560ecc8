"""Stage 5, shipping to the game: ONNX export, the C++ example, pre-stylized part sets, speed bench."""
