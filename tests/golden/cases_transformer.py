"""TransformerEncoderLayer and TransformerEncoder in eval mode: batch_first both ways (and
unbatched input), norm_first both ways, relu / gelu / tanh-GELU activations, bias=False, an
odd head count, a 2-layer encoder with a final LayerNorm, and a small text classifier fed
int64 ids. PyTorch's fast path (torch._transformer_encoder_layer_fwd, taken for batch_first
batched input) is checked against its Python path by golden.py for every case."""
from golden import Case

LAYER = "nn.TransformerEncoderLayer"
# The parameters a 2.1 layer built with bias=False does not have (1.13 has no `bias`).
NO_BIAS = (r".*\b(self_attn\.in_proj_bias|self_attn\.out_proj\.bias|linear[12]\.bias|norm[12]\.bias)",)

CASES = [
    Case("transformer_layer", f"nn.Sequential({LAYER}(16, 4, dim_feedforward=32))",
         [(5, 3, 16), (7, 1, 16), (6, 16)]),
    Case("transformer_layer_batch_first_gelu",
         f"nn.Sequential({LAYER}(d_model=16, nhead=4, dim_feedforward=24, dropout=0.0, activation='gelu', batch_first=True))",
         [(2, 5, 16), (1, 9, 16), (4, 16)]),
    Case("transformer_layer_norm_first",
         f"nn.Sequential({LAYER}(16, 2, 40, 0.1, 'relu', 1e-5, False, True))",
         [(4, 3, 16), (5, 16)]),
    Case("transformer_layer_norm_first_batch_first",
         f"nn.Sequential({LAYER}(16, 8, 32, activation=F.gelu, batch_first=True, norm_first=True))",
         [(3, 4, 16), (1, 1, 16)]),
    Case("transformer_layer_no_bias",
         f"nn.Sequential({LAYER}(16, 4, 32, batch_first=True, bias=False))",
         [(2, 6, 16), (3, 16)],
         torch_seq=f"nn.Sequential({LAYER}(16, 4, 32, batch_first=True))", absent_params=NO_BIAS),
    Case("transformer_layer_no_bias_norm_first",
         f"nn.Sequential({LAYER}(16, 4, 32, norm_first=True, bias=False))",
         [(6, 2, 16)],
         torch_seq=f"nn.Sequential({LAYER}(16, 4, 32, norm_first=True))", absent_params=NO_BIAS),
    Case("transformer_layer_odd_heads_tanh_gelu",
         f"nn.Sequential({LAYER}(15, 3, 20, activation=nn.GELU(approximate='tanh'), layer_norm_eps=1e-3, batch_first=True))",
         [(2, 7, 15)]),
    Case("transformer_layer_wide",
         f"nn.Sequential({LAYER}(64, 4, 128, batch_first=True), nn.ReLU())",
         [(3, 33, 64)]),
    Case("transformer_encoder_norm",
         f"nn.Sequential(nn.TransformerEncoder({LAYER}(16, 4, 32, batch_first=True), 2, norm=nn.LayerNorm(16)))",
         [(2, 5, 16), (7, 16)]),
    Case("transformer_encoder_seq_first",
         f"nn.Sequential(nn.TransformerEncoder(encoder_layer={LAYER}(16, 4, 32, activation='gelu', norm_first=True), num_layers=3, norm=nn.LayerNorm(16, eps=1e-6), enable_nested_tensor=False))",
         [(5, 2, 16)]),
    Case("transformer_encoder_no_bias",
         f"nn.Sequential(nn.TransformerEncoder({LAYER}(16, 2, 32, batch_first=True, bias=False), 2))",
         [(2, 3, 16)],
         torch_seq=f"nn.Sequential(nn.TransformerEncoder({LAYER}(16, 2, 32, batch_first=True), 2))",
         absent_params=NO_BIAS),
    Case("transformer_textclass",
         f"""nn.Sequential(
    nn.Embedding(20, 16),
    nn.TransformerEncoder({LAYER}(16, 4, 32, batch_first=True), 2, norm=nn.LayerNorm(16)),
    nn.Flatten(),
    nn.Linear(16 * 6, 3),
)""",
         [(1, 6), (4, 6)], input_dtype="int64", id_high=20),
]
