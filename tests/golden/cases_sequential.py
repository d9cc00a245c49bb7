"""Sequential's own API in model.seq: slicing (names kept), indexing (the module itself),
.extend, .insert, + and chains of them; the state_dict keys are whatever PyTorch gives."""
from golden import Case

FOUR = "nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 5), nn.ReLU())"
NAMED = "nn.Sequential(OrderedDict([('fc1', nn.Linear(6, 8)), ('act', nn.GELU()), ('fc2', nn.Linear(8, 3))]))"

CASES = [
    Case("sequential_slice", FOUR + "[2:]", [(3, 6), (6,)]),
    Case("sequential_slice_reversed", "nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 6), nn.ReLU())[::-1][1:]",
         [(2, 6)]),
    Case("sequential_slice_named_append", NAMED + "[1:].append(nn.Linear(3, 2))", [(4, 8)]),
    Case("sequential_index_children",
         "nn.Sequential(" + FOUR + "[0], nn.Sequential(nn.Sigmoid(), nn.Linear(6, 2))[-1], " + NAMED + "[1])",
         [(3, 6)]),
    Case("sequential_extend",
         "nn.Sequential(nn.Linear(6, 8)).extend([nn.ReLU(), nn.Linear(8, 4)]).extend(" + NAMED + "[1:2])",
         [(2, 6)]),
    Case("sequential_insert",
         "nn.Sequential(nn.Linear(6, 8), nn.Linear(8, 2)).insert(1, nn.ReLU()).insert(-3, nn.LayerNorm(6))",
         [(5, 6)]),
    Case("sequential_add",
         "(nn.Sequential(nn.Linear(6, 8), nn.ReLU()) + " + NAMED + "[2:] + nn.Sequential(nn.Linear(3, 3))).append(nn.Softmax(-1))",
         [(3, 6)]),
]
