"""DVC stage `prepare`: data/raw -> data/prepared/{train,val,test}.npz and the label counts."""

from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import label_counts, prepare, save_splits
from mnistlab.data.sources import STANDARD_FILES
from mnistlab.errors import exit_on_user_error
from mnistlab.io import write_csv
from mnistlab.params import load_params


@exit_on_user_error
def main() -> None:
    params = load_params().prepare
    raw = {key: f"data/raw/{name}" for key, name in STANDARD_FILES.items()}
    train = read_pair(raw["train_images"], raw["train_labels"])
    test = read_pair(raw["test_images"], raw["test_labels"])
    splits = prepare(train, test, params.val_size, params.train_size, params.test_size,
                     params.deskew, params.seed)
    save_splits(splits, "data/prepared")
    write_csv("plots/label_counts.csv", label_counts(splits))


if __name__ == "__main__":
    main()
