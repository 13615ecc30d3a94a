use super::*;

const SMALL: &str = "% a comment\n\
@RELATION 'toy data'\n\
\n\
@attribute age numeric\n\
@attribute 'colour' { red, 'dark blue', \"green\"}\n\
@Attribute weight REAL\n\
@attribute class {yes,no}\n\
@data\n\
% rows follow\n\
30, red, 1.5, yes\n\
41,'dark blue',2,no\n\
\n\
25 , green , 0.5 , yes\n";

fn err(text: &str) -> String {
    parse("t.arff", text.as_bytes()).unwrap_err().to_string()
}

#[test]
fn header_is_read_with_declared_types() {
    let header = read_header(
        Path::new("t.arff"),
        &mut SMALL.as_bytes(),
        &ReadLimits::default(),
    )
    .unwrap();
    assert_eq!(header.relation, "toy data");
    assert_eq!(header.data_line, 8);
    assert_eq!(header.attributes[0].kind, AttributeKind::Numeric);
    assert_eq!(
        header.attributes[1],
        Attribute {
            name: "colour".into(),
            kind: AttributeKind::Nominal(vec!["red".into(), "dark blue".into(), "green".into()])
        }
    );
}

#[test]
fn rows_become_one_hot_features_in_declared_order() {
    let (data, encoding) = parse("t.arff", SMALL.as_bytes()).unwrap();
    assert_eq!(data.len(), 3);
    // age, colour x3 (declared order, not sorted), weight.
    assert_eq!(encoding.width(), 5);
    assert_eq!(data.dense_row(0).unwrap(), &[30.0, 1.0, 0.0, 0.0, 1.5]);
    assert_eq!(data.dense_row(1).unwrap(), &[41.0, 0.0, 1.0, 0.0, 2.0]);
    assert_eq!(data.dense_row(2).unwrap(), &[25.0, 0.0, 0.0, 1.0, 0.5]);
    // Classes in declared order: yes = 0, no = 1.
    assert_eq!(encoding.classes, ["yes", "no"]);
    assert_eq!(data.labels(), &[0, 1, 0]);
    assert_eq!(encoding.label_column, "class");
}

#[test]
fn unused_categories_keep_their_column_and_another_label_can_be_chosen() {
    let text = "@relation r\n@attribute c {a,b,c}\n@attribute x numeric\n\
                @attribute y {p,q}\n@data\na,1,p\na,2,q\n";
    let (_, encoding) = parse("t.arff", text.as_bytes()).unwrap();
    assert_eq!(encoding.width(), 4);
    let options = ReadOptions {
        label_column: Some("c".into()),
        ..ReadOptions::default()
    };
    let (data, encoding) = read_bytes(Path::new("t.arff"), text.as_bytes(), &options).unwrap();
    assert_eq!(encoding.classes, ["a", "b", "c"]);
    assert_eq!(data.num_classes(), 3);
    assert_eq!(data.dense_row(1).unwrap(), &[2.0, 0.0, 1.0]);
}

#[test]
fn ids_come_from_an_id_attribute_or_content() {
    let text = "@relation r\n@attribute id integer\n@attribute x numeric\n\
                @attribute y {p,q}\n@data\n7,1,p\n9,1,q\n";
    let (data, encoding) = parse("t.arff", text.as_bytes()).unwrap();
    assert_eq!(data.ids(), &[7, 9]);
    assert_eq!(encoding.width(), 1);
    let (a, _) = parse("t.arff", SMALL.as_bytes()).unwrap();
    let shuffled = SMALL.replace(
        "30, red, 1.5, yes\n41,'dark blue',2,no\n",
        "41,'dark blue',2,no\n30, red, 1.5, yes\n",
    );
    let (b, _) = parse("t.arff", shuffled.as_bytes()).unwrap();
    assert_eq!(
        a.ids()[0],
        b.ids()[1],
        "content ids do not depend on row order"
    );
}

#[test]
fn quoted_question_mark_is_a_value_bare_one_is_missing() {
    let text = "@relation r\n@attribute x numeric\n@attribute y {'?',n}\n@data\n1,'?'\n";
    let (data, _) = parse("t.arff", text.as_bytes()).unwrap();
    assert_eq!(data.labels(), &[0]);
    let e = err("@relation r\n@attribute x numeric\n@attribute y {a,n}\n@data\n1,a\n?,n\n");
    assert!(
        e.contains("line 6: missing value '?' for attribute 'x'"),
        "{e}"
    );
}

#[test]
fn malformed_inputs_name_file_and_line() {
    let head = "@relation r\n@attribute x numeric\n@attribute y {a,b}\n@data\n";
    let cases: &[(&str, &str)] = &[
        ("1,a,3\n", "line 5: 3 values, expected 2"),
        ("1\n", "line 5: 1 values, expected 2"),
        ("x,a\n", "line 5: non-numeric value in numeric column 'x'"),
        ("1,c\n", "line 5"),
        ("1,'a\n", "line 5: unterminated '-quoted text"),
        ("1,,a\n", "line 5: empty value"),
        ("{0 1, 1 a}\n", "line 5: sparse ARFF rows are not supported"),
        ("1,a,{2}\n", "line 5"),
        ("1,'a' b\n", "line 5: unexpected 'b'"),
    ];
    for (rows, expected) in cases {
        let e = err(&format!("{head}{rows}"));
        assert!(
            e.contains("t.arff") && e.contains(expected),
            "{rows:?}: {e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
    }
    let headers: &[(&str, &str)] = &[
        (
            "@attribute x numeric\n@data\n",
            "line 1: @attribute before @relation",
        ),
        (
            "@relation r\n@attribute x numeric\n@attribute y {a,b}\n",
            "no @data line",
        ),
        (
            "@relation r\n@attribute s string\n@attribute y {a}\n@data\n",
            "line 2: attribute 's' is of type string",
        ),
        (
            "@relation r\n@attribute d date\n@attribute y {a}\n@data\n",
            "type date",
        ),
        (
            "@relation r\n@attribute x numbr\n@attribute y {a}\n@data\n",
            "unknown type 'numbr'",
        ),
        (
            "@relation r\n@attribute x numeric\n@attribute y {a,b\n@data\n",
            "no closing '}'",
        ),
        (
            "@relation r\n@attribute x numeric\n@attribute y {a,a}\n@data\n",
            "declares 'a' twice",
        ),
        (
            "@relation r\n@attribute x numeric\n@attribute x {a}\n@data\n",
            "line 3: duplicate attribute 'x'",
        ),
        (
            "@relation r\n@attribute x numeric\n@attribute y numeric\n@data\n1,2\n",
            "class attribute 'y' is numeric",
        ),
        (
            "@relation r\n@attribute y {a}\n@data\n",
            "at least one feature",
        ),
        (
            "@relation r\nhello\n",
            "line 2: expected @relation, @attribute or @data",
        ),
        (
            "@relation r\n@attribute x numeric\n@attribute y {a}\n@data\n",
            "no data rows",
        ),
    ];
    for (text, expected) in headers {
        let e = err(text);
        assert!(e.contains(expected), "{text:?}: {e}");
    }
    let e = parse(
        "t.arff",
        b"@relation r\n@attribute x numeric\n@attribute y {a}\n@data\n\xff\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 5: not UTF-8"), "{e}");
}

#[test]
fn escaped_line_breaks_stay_out_of_errors() {
    let e = err("@relation r\n@attribute x numeric\n@attribute y {a}\n@data\n1,'b\\nc'\n");
    assert!(e.contains("line 5") && e.contains("b\\nc"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn limits_refuse_before_allocating() {
    let limits = ReadLimits {
        max_columns: 2,
        max_categories: 2,
        ..ReadLimits::default()
    };
    let options = ReadOptions {
        limits,
        ..ReadOptions::default()
    };
    let read = |t: &str| {
        read_bytes(Path::new("t.arff"), t.as_bytes(), &options)
            .unwrap_err()
            .to_string()
    };
    let e =
        read("@relation r\n@attribute a numeric\n@attribute b numeric\n@attribute y {p}\n@data\n");
    assert!(e.contains("line 4: more than 2 attributes"), "{e}");
    let e = read("@relation r\n@attribute a numeric\n@attribute y {p,q,r}\n@data\n");
    assert!(e.contains("over the 2-category limit"), "{e}");
    let tight = ReadOptions {
        limits: ReadLimits {
            max_file_bytes: 10,
            ..ReadLimits::default()
        },
        ..ReadOptions::default()
    };
    let e = read_bytes(Path::new("t.arff"), SMALL.as_bytes(), &tight).unwrap_err();
    assert!(e.to_string().contains("file-size limit"), "{e}");
}

#[test]
fn files_stream_like_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("toy.arff");
    std::fs::write(&path, SMALL).unwrap();
    let (from_file, _) = read(&path, &ReadOptions::default()).unwrap();
    let (from_bytes, _) = parse("toy.arff", SMALL.as_bytes()).unwrap();
    assert!(from_file == from_bytes);
}
