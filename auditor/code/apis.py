"""Catalogues of library APIs by qualified name: what seeds, consumes randomness, sets determinism,
installs quantization, loads checkpoints, starts trackers.

Everything is matched on the fully qualified name the import table resolves (`import torch as T;
T.manual_seed` -> `torch.manual_seed`), never on a bare attribute name or a substring of a module
name (`torchvision` is not `torch`). RNG families: python, numpy, torch, cuda.
"""

from __future__ import annotations

RNGS = ("python", "numpy", "torch", "cuda")
ALL_RNGS = frozenset(RNGS)

# -- seeding ----------------------------------------------------------------------------------
# qualified name -> RNGs it seeds. Since torch 1.x, torch.manual_seed seeds every CUDA device too.
SEED_APIS: dict[str, frozenset[str]] = {
    "random.seed": frozenset({"python"}),
    "numpy.random.seed": frozenset({"numpy"}),
    "torch.manual_seed": frozenset({"torch", "cuda"}),
    "torch.random.manual_seed": frozenset({"torch", "cuda"}),
    "torch.cuda.manual_seed": frozenset({"cuda"}),
    "torch.cuda.manual_seed_all": frozenset({"cuda"}),
    "torch.cuda.random.manual_seed": frozenset({"cuda"}),
    "torch.cuda.random.manual_seed_all": frozenset({"cuda"}),
    # all-in-one helpers of the ecosystem
    "transformers.set_seed": ALL_RNGS,
    "transformers.trainer_utils.set_seed": ALL_RNGS,
    "transformers.enable_full_determinism": ALL_RNGS,
    "transformers.trainer_utils.enable_full_determinism": ALL_RNGS,
    "lightning.seed_everything": ALL_RNGS,
    "lightning.pytorch.seed_everything": ALL_RNGS,
    "lightning.fabric.seed_everything": ALL_RNGS,
    "lightning.fabric.utilities.seed.seed_everything": ALL_RNGS,
    "lightning.pytorch.utilities.seed.seed_everything": ALL_RNGS,
    "lightning_fabric.seed_everything": ALL_RNGS,
    "lightning_fabric.utilities.seed.seed_everything": ALL_RNGS,
    "pytorch_lightning.seed_everything": ALL_RNGS,
    "pytorch_lightning.utilities.seed.seed_everything": ALL_RNGS,
    "accelerate.utils.set_seed": ALL_RNGS,
    "accelerate.utils.random.set_seed": ALL_RNGS,
    "deepspeed.runtime.utils.set_random_seed": ALL_RNGS,
    "trl.set_seed": ALL_RNGS,
    "colossalai.launch_from_torch": ALL_RNGS,  # seed= defaults to 1024: it always seeds
    "colossalai.launch": ALL_RNGS,
    "colossalai.launch_from_slurm": ALL_RNGS,
    "torchtune.training.set_seed": ALL_RNGS,
    "torchtune.training.seed.set_seed": ALL_RNGS,
    "composer.utils.reproducibility.seed_all": ALL_RNGS,
    "composer.utils.seed_all": ALL_RNGS,
    "detectron2.utils.env.seed_all_rng": ALL_RNGS,
    "timm.utils.random_seed": ALL_RNGS,
    "timm.utils.random.random_seed": ALL_RNGS,
    "mmengine.runner.set_random_seed": ALL_RNGS,
    "mmcv.runner.set_random_seed": ALL_RNGS,
    "stable_baselines3.common.utils.set_random_seed": ALL_RNGS,
    "torch_geometric.seed_everything": ALL_RNGS,
    "monai.utils.set_determinism": ALL_RNGS,
    "ignite.utils.manual_seed": ALL_RNGS,
    "keras.utils.set_random_seed": ALL_RNGS,
    "fairseq.utils.set_torch_seed": frozenset({"torch", "cuda"}),
    # Trainers that seed everything from their arguments when constructed (args.seed defaults to 42)
    "transformers.Trainer": ALL_RNGS,
    "transformers.Seq2SeqTrainer": ALL_RNGS,
    "trl.SFTTrainer": ALL_RNGS,
    "trl.DPOTrainer": ALL_RNGS,
    "trl.GRPOTrainer": ALL_RNGS,
    "trl.PPOTrainer": ALL_RNGS,
    "trl.RewardTrainer": ALL_RNGS,
}
# methods that seed everything whatever their receiver (Fabric.seed_everything on a `fabric` parameter)
SEED_METHODS = frozenset({"seed_everything"})
# Seeding only when called with a seed argument (without one they draw from OS entropy).
SEED_NEEDS_ARGUMENT = frozenset({"random.seed", "numpy.random.seed"})
# Private generators: seeding one seeds nothing else (the process's python/numpy/torch RNGs stay as they
# were); built without a seed they draw from OS entropy (see CONSUME_APIS).
LOCAL_GENERATORS = frozenset({
    "random.Random", "numpy.random.default_rng", "numpy.random.RandomState", "numpy.random.Generator",
    "numpy.random.PCG64", "numpy.random.SeedSequence", "torch.Generator().manual_seed",
})

# -- consumption ------------------------------------------------------------------------------
_PY_DRAWS = ("random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform", "gauss",
             "normalvariate", "lognormvariate", "expovariate", "betavariate", "gammavariate", "triangular",
             "vonmisesvariate", "paretovariate", "weibullvariate", "getrandbits", "randbytes", "binomialvariate")
_NP_DRAWS = ("rand", "randn", "randint", "random", "random_sample", "ranf", "sample", "choice", "shuffle",
             "permutation", "normal", "uniform", "binomial", "poisson", "beta", "gamma", "exponential",
             "multinomial", "multivariate_normal", "standard_normal", "lognormal", "laplace", "logistic",
             "geometric", "dirichlet", "bytes", "random_integers", "standard_cauchy", "chisquare", "triangular")
_TORCH_DRAWS = ("rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal",
                "bernoulli", "multinomial", "poisson")
_INIT_FUNCS = ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
               "kaiming_normal_", "orthogonal_", "sparse_", "uniform", "normal", "xavier_uniform",
               "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal")
# nn.Modules whose constructor draws random initial parameters
_PARAM_MODULES = ("Linear", "Bilinear", "LazyLinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
                  "ConvTranspose2d", "ConvTranspose3d", "Embedding", "EmbeddingBag", "LSTM", "GRU", "RNN",
                  "LSTMCell", "GRUCell", "RNNCell", "MultiheadAttention", "Transformer",
                  "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
                  "TransformerDecoder", "PReLU")

# qualified name -> (rng, strength). strength "draw": an explicit random draw / shuffle / split;
# "tensor" (TENSOR_DRAWS, recorded by the summary): a random torch tensor (an input, noise; a result only
# when the program trains on it);
# "init": random parameter initialisation (matters when the program trains); "loader": a shuffling
# DataLoader (draws its order when iterated, not when built).
CONSUME_APIS: dict[str, tuple[str, str]] = {}
CONSUME_APIS.update({f"random.{n}": ("python", "draw") for n in _PY_DRAWS})
CONSUME_APIS.update({f"numpy.random.{n}": ("numpy", "draw") for n in _NP_DRAWS})
CONSUME_APIS.update({f"torch.{n}": ("torch", "draw") for n in _TORCH_DRAWS})
# draws whose value is a random tensor: recorded with strength "tensor" (see above)
TENSOR_DRAWS = frozenset(f"torch.{n}" for n in _TORCH_DRAWS if n != "randperm")
CONSUME_APIS.update({f"torch.nn.init.{n}": ("torch", "init") for n in _INIT_FUNCS})
CONSUME_APIS.update({f"torch.nn.{n}": ("torch", "init") for n in _PARAM_MODULES})
CONSUME_APIS.update({
    "torch.utils.data.random_split": ("torch", "draw"),  # unless generator=
    "torch.utils.data.RandomSampler": ("torch", "loader"),  # unless generator=; draws when iterated
    "torch.utils.data.SubsetRandomSampler": ("torch", "loader"),
    "torch.utils.data.WeightedRandomSampler": ("torch", "loader"),
    "sklearn.model_selection.train_test_split": ("numpy", "draw"),  # unless random_state=
    "sklearn.model_selection.KFold": ("numpy", "draw"),  # with shuffle=True, unless random_state=
    "sklearn.model_selection.StratifiedKFold": ("numpy", "draw"),
    "sklearn.model_selection.ShuffleSplit": ("numpy", "draw"),
    "sklearn.utils.shuffle": ("numpy", "draw"),
    "numpy.random.default_rng": ("numpy", "draw"),  # without a seed: fresh OS entropy
    "numpy.random.RandomState": ("numpy", "draw"),  # without a seed
    "transformers.AutoModel.from_config": ("torch", "init"),
    "transformers.AutoModelForCausalLM.from_config": ("torch", "init"),
    "transformers.AutoModelForSequenceClassification.from_config": ("torch", "init"),
})
# consumers that stop consuming global state when given their own generator / seed
CONSUME_UNLESS_KWARG: dict[str, tuple[str, ...]] = {
    "torch.utils.data.random_split": ("generator",),
    "torch.utils.data.RandomSampler": ("generator",),
    "torch.utils.data.SubsetRandomSampler": ("generator",),
    "torch.utils.data.WeightedRandomSampler": ("generator",),
    "sklearn.model_selection.train_test_split": ("random_state",),
    "sklearn.model_selection.KFold": ("random_state",),
    "sklearn.model_selection.StratifiedKFold": ("random_state",),
    "sklearn.model_selection.ShuffleSplit": ("random_state",),
    "sklearn.utils.shuffle": ("random_state",),
}
for _name in _TORCH_DRAWS:
    CONSUME_UNLESS_KWARG[f"torch.{_name}"] = ("generator",)
# sklearn splitters only shuffle (and so draw) when shuffle=True
CONSUME_ONLY_IF_SHUFFLE = frozenset({"sklearn.model_selection.KFold", "sklearn.model_selection.StratifiedKFold"})

DATALOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})

# -- determinism ------------------------------------------------------------------------------
CUDNN_BENCHMARK = frozenset({"torch.backends.cudnn.benchmark"})
CUDNN_DETERMINISTIC = frozenset({"torch.backends.cudnn.deterministic"})
DETERMINISTIC_CALLS = frozenset({
    "torch.use_deterministic_algorithms", "transformers.enable_full_determinism",
    "transformers.trainer_utils.enable_full_determinism",
})
# Trainers that take deterministic=True
DETERMINISTIC_TRAINERS = frozenset({
    "lightning.Trainer", "lightning.pytorch.Trainer", "pytorch_lightning.Trainer", "lightning.fabric.Fabric",
})

# -- quantization ----------------------------------------------------------------------------
QUANT_APIS = frozenset({
    "torch.ao.quantization.prepare", "torch.ao.quantization.prepare_qat", "torch.ao.quantization.convert",
    "torch.ao.quantization.quantize_dynamic", "torch.quantization.prepare", "torch.quantization.prepare_qat",
    "torch.quantization.convert", "torch.quantization.quantize_dynamic",
    "torch.ao.quantization.quantize_fx.prepare_fx", "torch.ao.quantization.quantize_fx.prepare_qat_fx",
    "torchao.quantization.quantize_", "torchao.quantize_", "torchao.float8.convert_to_float8_training",
    "torchao.quantization.qat.QATConfig", "torchao.quantization.qat.IntXQuantizationAwareTrainingConfig",
    "torchao.quantization.qat.Int8DynActInt4WeightQATQuantizer",
    "auditor.replay.quant.quantize_dequantize",
    # fake-quantization ops: a hook or parametrization calling one quantizes whatever its name
    "torch.fake_quantize_per_tensor_affine", "torch.fake_quantize_per_channel_affine",
    "torch.ao.quantization.FakeQuantize", "torch.ao.quantization.fake_quantize.FakeQuantize",
    "torch.quantization.FakeQuantize", "torch.ao.quantization.quantize_fx.convert_fx",
    "torchao.quantization.qat.FakeQuantizeConfig", "torchao.quantization.qat.IntxFakeQuantizeConfig",
})
# calls that evaluate or sample a model (besides the project's configured validation functions)
EVAL_CALLS = frozenset({"simple_evaluate", "evaluate", "generate", "sample", "evaluate_policy", "validate",
                        "run_eval", "eval_model", "evaluate_model", "inference_on_dataset", "greedy_search",
                        "beam_search", "valid_step", "eval_step", "inference_step", "test_step", "evaluate_step"})
# from_pretrained on these loads no weights
NOT_CHECKPOINTS = ("Tokenizer", "Processor", "Config", "FeatureExtractor", "tokenizer", "processor", "config")
QUANT_NAME_WORDS = ("mxfp4", "mxfp6", "mxfp8", "nvfp4", "fake_quant", "fakequant", "quantize", "quant_hook",
                    "qat")
HOOK_METHODS = frozenset({"register_forward_pre_hook", "register_forward_hook"})

# -- checkpoints -----------------------------------------------------------------------------
LOAD_APIS = frozenset({
    "torch.load", "safetensors.torch.load_file", "safetensors.torch.load", "safetensors.safe_open",
    "safetensors.torch.load_model", "torch.distributed.checkpoint.load", "torch.distributed.checkpoint.load_state_dict",
})
LOAD_METHODS = frozenset({"load_state_dict", "from_pretrained", "load_from_checkpoint", "load_checkpoint"})

# -- trackers --------------------------------------------------------------------------------
TRACKER_STARTS: dict[str, str] = {
    "wandb.init": "wandb",
    "mlflow.start_run": "mlflow",
    "torch.utils.tensorboard.SummaryWriter": "tensorboard",
    "torch.utils.tensorboard.writer.SummaryWriter": "tensorboard",
    "tensorboardX.SummaryWriter": "tensorboard",
}
# calls that put the run's config into the tracker, per tracker
CONFIG_LOGGERS: dict[str, frozenset[str]] = {
    "wandb": frozenset({"wandb.config.update", "wandb.config.setdefaults", "wandb.run.config.update"}),
    "mlflow": frozenset({"mlflow.log_params", "mlflow.log_param", "mlflow.log_dict", "mlflow.log_text",
                         "mlflow.log_artifact", "mlflow.log_artifacts", "mlflow.autolog",
                         "mlflow.pytorch.autolog", "mlflow.set_tags"}),
}
# methods on a run / writer object that log the config
CONFIG_LOGGER_METHODS: dict[str, frozenset[str]] = {
    "wandb": frozenset({"config.update", "config.setdefaults"}),
    "mlflow": frozenset({"log_params", "log_param", "log_dict"}),
    "tensorboard": frozenset({"add_hparams", "add_text"}),
}

# -- things that train -------------------------------------------------------------------------
TRAIN_METHODS = frozenset({"backward"})
# how= of train events that update weights (backward alone is also run by benchmarks and smoke tests)
UPDATES = frozenset({"step", "trainer", "fit"})

# -- programs started in other processes -----------------------------------------------------------
# Calls that run a function given to them (as their first argument or fn=/target=/main_func=) as the
# program's body: multiprocessing spawns, distributed launchers, Fabric.launch, fairseq's call_main.
LAUNCHER_NAMES = frozenset({"spawn", "launch", "call_main", "start_processes", "notebook_launcher", "Process",
                            "elastic_launch", "launch_job"})
LAUNCHER_KWARGS = ("fn", "target", "main_func", "func", "entrypoint")
