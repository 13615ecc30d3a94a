//! Bring-your-own-data readers against a real set: the Fashion-MNIST test split written as a
//! class-per-folder PNG tree (one folder per class name) reads back to exactly the built-in
//! pixels, labels and class names (its pixels are `k / 255`, so 8-bit PNG is lossless), and
//! its content-hash ids do not depend on the file names.

use mithridate_data::readers::{image_folder, ReadOptions};
use mithridate_data::{fetch, load, DataHome, Features, Split};

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

#[test]
fn fashion_mnist_png_tree_reads_back_to_the_builtin_pixels() {
    let home = home();
    fetch(&home, "fashion-mnist").unwrap();
    let data = load(&home, "fashion-mnist", Split::Test).unwrap();
    let Features::Dense(pixels) = data.features() else {
        panic!("dense images expected")
    };
    let names = data.class_names();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("fashion");
    // Folder names sort in class order: prefix the class index.
    let folder = |c: usize| root.join(format!("{c}-{}", names[c].replace('/', "-")));
    for c in 0..names.len() {
        std::fs::create_dir_all(folder(c)).unwrap();
    }
    for row in 0..data.len() {
        let bytes: Vec<u8> = pixels[row * 784..(row + 1) * 784]
            .iter()
            .map(|&v| (v * 255.0).round() as u8)
            .collect();
        let label = data.labels()[row] as usize;
        image::GrayImage::from_raw(28, 28, bytes)
            .unwrap()
            .save(folder(label).join(format!("{row:05}.png")))
            .unwrap();
    }
    let back = image_folder::read(&root, &ReadOptions::default()).unwrap();
    assert_eq!(back.len(), data.len());
    assert_eq!(back.modality(), data.modality());
    // The tree lists class 0's files first: compare in that order.
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by_key(|&r| (data.labels()[r], r));
    let expected = data.select(&order).unwrap();
    assert_eq!(back.features(), expected.features());
    assert_eq!(back.labels(), expected.labels());
    assert_eq!(
        back.class_names(),
        (0..names.len())
            .map(|c| format!("{c}-{}", names[c].replace('/', "-")))
            .collect::<Vec<_>>()
    );
    // Content ids: renaming a file keeps its id.
    let first = folder(0).join(format!("{:05}.png", order[0]));
    std::fs::rename(&first, folder(0).join("zzzzz.png")).unwrap();
    let renamed = image_folder::read(&root, &ReadOptions::default()).unwrap();
    let mut a = back.ids().to_vec();
    let mut b = renamed.ids().to_vec();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
}
