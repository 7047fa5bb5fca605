"""qinglang (清朗): audit web traffic and social engagement for fraud, and settle campaigns."""

__version__ = "0.1.0"
