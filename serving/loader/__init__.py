"""Loading model weights, configs and tokenizers from GGUF files and Hugging Face safetensors folders."""
