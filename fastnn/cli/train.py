"""``fastnn train``: the book's chapter-6 network on a data set, one line per epoch."""
from ._args import (HelpFormatter, any_int, fraction, nonnegative_float, positive_float,
                    positive_int)
from ._data import DATASETS, load as load_data
import time

import numpy as np


def add_command(sub):
    p = sub.add_parser("train", formatter_class=HelpFormatter, help="train MultiLayerNetExtend and print per-epoch accuracy",
                       description="Train the book's MultiLayerNetExtend "
                                   "(784-[100]x5-10, BN, dropout) with Adam.")
    p.add_argument("--dataset", default="sample", choices=DATASETS,
                   help="'sample' is bundled with the package (no download)")
    p.add_argument("--backend", default="fast", choices=["fast", "reference"],
                   help="compiled kernels or the book's NumPy code")
    p.add_argument("--epochs", type=positive_int, default=5, help="epochs to train")
    p.add_argument("--batch-size", type=positive_int, default=100, help="mini-batch size")
    p.add_argument("--lr", type=positive_float, default=0.001, help="learning rate")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[100] * 5,
                   help="hidden layer sizes")
    p.add_argument("--no-batchnorm", action="store_true", help="no batch normalization")
    p.add_argument("--dropout", type=fraction, default=0.2, help="dropout ratio; 0 turns it off")
    p.add_argument("--weight-decay", type=nonnegative_float, default=0.0,
                   help="L2 weight decay lambda")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="network dtype")
    p.add_argument("--seed", type=any_int, default=0, help="seed of np.random")
    p.set_defaults(func=run_train)

    c = sub.add_parser("config", formatter_class=HelpFormatter, help="print version, compiled kernels, BLAS and threads")
    c.set_defaults(func=lambda args: __import__("fastnn").show_config())


def run_train(args):
    from ..multi_layer_net_extend import MultiLayerNetExtend
    from ..trainer import Trainer

    (x_train, t_train), (x_test, t_test) = load_data(args.dataset)
    dtype = np.dtype(args.dtype)
    x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    np.random.seed(args.seed)
    net = MultiLayerNetExtend(x_train.shape[1], args.hidden, 10,
                              use_batchnorm=not args.no_batchnorm,
                              use_dropout=args.dropout > 0, dropout_ration=args.dropout,
                              weight_decay_lambda=args.weight_decay,
                              backend=args.backend, dtype=dtype)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs,
                      mini_batch_size=args.batch_size, optimizer="adam",
                      optimizer_param={"lr": args.lr}, verbose=False, integer_epochs=True)
    print("fastnn train: %s (%d train / %d test), backend %s, %s, %d epochs of %d steps"
          % (args.dataset, len(x_train), len(x_test), args.backend, dtype.name,
             args.epochs, trainer.iter_per_epoch))
    total = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        for _ in range(trainer.iter_per_epoch):
            trainer.train_step()
        elapsed = time.perf_counter() - start
        total += elapsed
        print("epoch %2d  loss %.4f  train acc %.4f  test acc %.4f  %.2fs"
              % (epoch, float(np.mean(trainer.train_loss_list[-trainer.iter_per_epoch:])),
                 net.accuracy(x_train, t_train), net.accuracy(x_test, t_test), elapsed))
    print("done: test accuracy %.4f, %.2fs training" % (net.accuracy(x_test, t_test), total))
    return 0
