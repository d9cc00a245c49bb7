"""Embedding and EmbeddingBag on int64 and int32 ids: ids of several shapes, padding_idx
(negative too), every EmbeddingBag mode with padding left out of the bag (including a bag
that is all padding), and an Embedding feeding float modules."""
from golden import Case

CASES = [
    Case("embedding", "nn.Sequential(nn.Embedding(50, 8))",
         [(4, 7), (7,), (2, 3, 5), ()], input_dtype="int64", id_high=50),
    Case("embedding_int32", "nn.Sequential(nn.Embedding(num_embeddings=20, embedding_dim=5))",
         [(3, 4), (1,)], input_dtype="int32", id_high=20),
    Case("embedding_padding_negative",
         "nn.Sequential(nn.Embedding(10, 4, padding_idx=-1, max_norm=None, sparse=True))",
         [(6, 5)], input_dtype="int64", id_high=10),
    Case("embedding_mlp",
         "nn.Sequential(nn.Embedding(30, 16), nn.Flatten(), nn.Linear(16 * 6, 10), nn.ReLU(), nn.Linear(10, 3))",
         [(1, 6), (5, 6)], input_dtype="int64", id_high=30),
    Case("embedding_layernorm",
         "nn.Sequential(nn.Dropout(0.1), nn.Embedding(12, 6), nn.LayerNorm(6), nn.GELU())",
         [(2, 9)], input_dtype="int32", id_high=12),
    Case("embedding_bag_mean", "nn.Sequential(nn.EmbeddingBag(40, 6))",
         [(5, 4), (1, 1), (0, 3)], input_dtype="int64", id_high=40),
    Case("embedding_bag_sum_int32", "nn.Sequential(nn.EmbeddingBag(40, 6, mode='sum'))",
         [(3, 7)], input_dtype="int32", id_high=40),
    Case("embedding_bag_max", "nn.Sequential(nn.EmbeddingBag(25, 9, mode='max'), nn.Linear(9, 2))",
         [(4, 5)], input_dtype="int64", id_high=25),
    # padding_idx 2 is left out of each bag; [2, 2, 2] is a bag of padding only (zeros).
    Case("embedding_bag_mean_padding", "nn.Sequential(nn.EmbeddingBag(6, 3, padding_idx=2))",
         [(4, 3), (2, 3)], input_dtype="int64",
         inputs=[[[1, 2, 3], [2, 2, 2], [0, 5, 2], [4, 4, 1]], [[2, 2, 2], [5, 2, 0]]]),
    Case("embedding_bag_sum_padding", "nn.Sequential(nn.EmbeddingBag(6, 3, mode='sum', padding_idx=-4))",
         [(4, 3), (3, 6)], input_dtype="int32",
         inputs=[[[1, 2, 3], [2, 2, 2], [0, 5, 2], [4, 4, 1]],
                 [[0, 1, 2, 3, 4, 5], [2, 2, 2, 2, 2, 2], [5, 5, 5, 2, 5, 5]]]),
    Case("embedding_bag_max_padding", "nn.Sequential(nn.EmbeddingBag(6, 3, mode='max', padding_idx=0))",
         [(4, 3)], input_dtype="int64",
         inputs=[[[1, 0, 3], [0, 0, 0], [0, 5, 2], [4, 4, 1]]]),
]
