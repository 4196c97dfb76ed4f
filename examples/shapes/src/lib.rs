//! `weld-examples:geometry`: geometry tools with a deliberately rich WIT
//! signature (records, variants, enums, flags, options, results, tuples, lists
//! and most integer and float widths), exported both from the `geometry`
//! interface and at world level.

wit_bindgen::generate!({
    world: "shapes",
    path: "wit",
});

use exports::weld_examples::geometry::geometry::{
    Category, Color, ErrorKind, Guest as GeometryGuest, Point, Rect, Shape, StyleFlags,
};

struct Shapes;

/// World-level exports.
impl Guest for Shapes {
    fn version() -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    fn checksum(bytes: Vec<u8>) -> u32 {
        crc32(&bytes)
    }
}

/// Exports of the `geometry` interface.
impl GeometryGuest for Shapes {
    fn area(shape: Shape) -> f64 {
        area(&shape)
    }

    fn bounding_box(points: Vec<Point>) -> Option<Rect> {
        let first = points.first()?;
        let (mut min, mut max) = (*first, *first);
        for p in &points[1..] {
            min.x = min.x.min(p.x);
            min.y = min.y.min(p.y);
            max.x = max.x.max(p.x);
            max.y = max.y.max(p.y);
        }
        Some(Rect {
            origin: min,
            width: max.x - min.x,
            height: max.y - min.y,
        })
    }

    fn classify(shape: Shape) -> Result<Category, ErrorKind> {
        validate(&shape)?;
        let area = area(&shape);
        Ok(if area == 0.0 {
            Category::Degenerate
        } else if area < 1.0 {
            Category::Tiny
        } else if area < 100.0 {
            Category::Small
        } else if area < 10_000.0 {
            Category::Medium
        } else {
            Category::Large
        })
    }

    fn style(decorations: StyleFlags, color: Option<Color>) -> String {
        let mut rules = vec![];
        if decorations.contains(StyleFlags::BOLD) {
            rules.push("font-weight: bold".to_owned());
        }
        if decorations.contains(StyleFlags::ITALIC) {
            rules.push("font-style: italic".to_owned());
        }
        let mut lines = vec![];
        if decorations.contains(StyleFlags::UNDERLINE) {
            lines.push("underline");
        }
        if decorations.contains(StyleFlags::STRIKETHROUGH) {
            lines.push("line-through");
        }
        if !lines.is_empty() {
            rules.push(format!("text-decoration: {}", lines.join(" ")));
        }
        if let Some(Color { r, g, b, alpha }) = color {
            let mut hex = format!("color: #{r:02x}{g:02x}{b:02x}");
            if let Some(a) = alpha {
                hex.push_str(&format!("{a:02x}"));
            }
            rules.push(hex);
        }
        rules.join("; ")
    }

    fn scale(p: Point, factor: f32) -> Point {
        let f = f64::from(factor);
        Point {
            x: p.x * f,
            y: p.y * f,
        }
    }

    fn rotate(p: Point, degrees: i16) -> Point {
        // Quarter turns are exact; other angles go through sin/cos.
        let d = i32::from(degrees).rem_euclid(360);
        let (sin, cos) = match d {
            0 => (0.0, 1.0),
            90 => (1.0, 0.0),
            180 => (0.0, -1.0),
            270 => (-1.0, 0.0),
            _ => f64::from(d).to_radians().sin_cos(),
        };
        Point {
            x: p.x * cos - p.y * sin,
            y: p.x * sin + p.y * cos,
        }
    }

    fn manhattan(a: (i32, i32), b: (i32, i32)) -> u64 {
        let dx = (i64::from(a.0) - i64::from(b.0)).unsigned_abs();
        let dy = (i64::from(a.1) - i64::from(b.1)).unsigned_abs();
        dx + dy
    }

    fn nearest(points: Vec<Point>, origin: Point) -> Vec<(u32, f64)> {
        let mut out: Vec<(u32, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u32, (p.x - origin.x).hypot(p.y - origin.y)))
            .collect();
        // Stable, and total_cmp puts NaN distances last.
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        out
    }

    fn plot(points: Vec<Point>, columns: u8, rows: u8, marker: char, axes: bool) -> String {
        let (w, h) = (usize::from(columns.max(1)), usize::from(rows.max(1)));
        let mut grid = vec![vec![' '; w]; h];
        let finite: Vec<Point> = points
            .into_iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite())
            .collect();
        if let Some(bounds) = Self::bounding_box(finite.clone()) {
            // Grid cell of a coordinate; a zero extent puts everything in the middle.
            let cell = |v: f64, min: f64, extent: f64, cells: usize| -> Option<usize> {
                let t = if extent > 0.0 {
                    (v - min) / extent
                } else if v == min {
                    0.5
                } else {
                    return None;
                };
                (0.0..=1.0)
                    .contains(&t)
                    .then(|| ((t * (cells - 1) as f64).round() as usize).min(cells - 1))
            };
            let col = |x: f64| cell(x, bounds.origin.x, bounds.width, w);
            let row = |y: f64| cell(y, bounds.origin.y, bounds.height, h).map(|r| h - 1 - r);
            if axes {
                if let Some(r) = row(0.0) {
                    grid[r].fill('-');
                }
                if let Some(c) = col(0.0) {
                    for line in grid.iter_mut() {
                        line[c] = if line[c] == '-' { '+' } else { '|' };
                    }
                }
            }
            for p in &finite {
                if let (Some(c), Some(r)) = (col(p.x), row(p.y)) {
                    grid[r][c] = marker;
                }
            }
        }
        let lines: Vec<String> = grid
            .iter()
            .map(|line| line.iter().collect::<String>().trim_end().to_owned())
            .collect();
        lines.join("\n")
    }

    fn ring_walk(position: u64, stride: i8, steps: i64, size: u16) -> Result<u64, String> {
        if size == 0 {
            return Err("size must be at least 1".to_owned());
        }
        let size = i128::from(size);
        let start = i128::from(position) % size;
        let delta = (i128::from(stride) * i128::from(steps)).rem_euclid(size);
        Ok(((start + delta) % size) as u64)
    }
}

export!(Shapes);

fn area(shape: &Shape) -> f64 {
    match shape {
        Shape::Circle(radius) => std::f64::consts::PI * radius * radius,
        Shape::Rect(rect) => (rect.width * rect.height).abs(),
        Shape::Polygon(points) => {
            // Shoelace formula.
            let n = points.len();
            let twice: f64 = (0..n)
                .map(|i| {
                    let (a, b) = (points[i], points[(i + 1) % n]);
                    a.x * b.y - b.x * a.y
                })
                .sum();
            twice.abs() / 2.0
        }
        Shape::Empty => 0.0,
    }
}

fn validate(shape: &Shape) -> Result<(), ErrorKind> {
    let finite = |p: &Point| p.x.is_finite() && p.y.is_finite();
    match shape {
        Shape::Circle(radius) if !radius.is_finite() => Err(ErrorKind::NotFinite),
        Shape::Circle(radius) if *radius < 0.0 => Err(ErrorKind::NegativeRadius(*radius)),
        Shape::Rect(r) if !(finite(&r.origin) && r.width.is_finite() && r.height.is_finite()) => {
            Err(ErrorKind::NotFinite)
        }
        Shape::Rect(r) if r.width < 0.0 || r.height < 0.0 => Err(ErrorKind::NegativeSize),
        Shape::Polygon(points) if !points.iter().all(finite) => Err(ErrorKind::NotFinite),
        Shape::Polygon(points) if points.len() < 3 => {
            Err(ErrorKind::TooFewVertices(points.len() as u32))
        }
        _ => Ok(()),
    }
}

/// CRC-32/ISO-HDLC lookup table, computed at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| {
        CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    fn xy(p: Point) -> (f64, f64) {
        (p.x, p.y)
    }

    #[test]
    fn crc() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn areas_and_classes() {
        let square = Shape::Polygon(vec![pt(0.0, 0.0), pt(0.0, 2.0), pt(2.0, 2.0), pt(2.0, 0.0)]);
        assert_eq!(area(&square), 4.0);
        assert_eq!(Shapes::classify(square).unwrap(), Category::Small);
        assert_eq!(
            Shapes::classify(Shape::Empty).unwrap(),
            Category::Degenerate
        );
        assert_eq!(
            Shapes::classify(Shape::Circle(100.0)).unwrap(),
            Category::Large
        );
        assert!(matches!(
            Shapes::classify(Shape::Circle(-1.0)),
            Err(ErrorKind::NegativeRadius(-1.0))
        ));
        assert!(matches!(
            Shapes::classify(Shape::Polygon(vec![pt(0.0, 0.0)])),
            Err(ErrorKind::TooFewVertices(1))
        ));
        assert!(matches!(
            Shapes::classify(Shape::Circle(f64::NAN)),
            Err(ErrorKind::NotFinite)
        ));
        assert!(matches!(
            Shapes::classify(Shape::Rect(Rect {
                origin: pt(0.0, 0.0),
                width: -1.0,
                height: 1.0
            })),
            Err(ErrorKind::NegativeSize)
        ));
    }

    #[test]
    fn boxes_and_points() {
        assert!(Shapes::bounding_box(vec![]).is_none());
        let b = Shapes::bounding_box(vec![pt(1.0, 5.0), pt(-2.0, 3.0), pt(4.0, -1.0)]).unwrap();
        assert_eq!((xy(b.origin), b.width, b.height), ((-2.0, -1.0), 6.0, 6.0));
        assert_eq!(xy(Shapes::rotate(pt(1.0, 0.0), 90)), (0.0, 1.0));
        assert_eq!(xy(Shapes::rotate(pt(1.0, 2.0), -180)), (-1.0, -2.0));
        assert_eq!(xy(Shapes::scale(pt(1.0, -2.0), 1.5)), (1.5, -3.0));
        assert_eq!(
            Shapes::manhattan((i32::MIN, 0), (i32::MAX, 0)),
            u32::MAX as u64
        );
        let order = Shapes::nearest(
            vec![pt(3.0, 4.0), pt(1.0, 0.0), pt(f64::NAN, 0.0)],
            pt(0.0, 0.0),
        );
        assert_eq!(order[0], (1, 1.0));
        assert_eq!(order[1], (0, 5.0));
        assert_eq!(order[2].0, 2);
    }

    #[test]
    fn styles_and_rings() {
        assert_eq!(Shapes::style(StyleFlags::empty(), None), "");
        assert_eq!(
            Shapes::style(
                StyleFlags::BOLD | StyleFlags::UNDERLINE | StyleFlags::STRIKETHROUGH,
                Some(Color {
                    r: 255,
                    g: 136,
                    b: 0,
                    alpha: Some(128)
                })
            ),
            "font-weight: bold; text-decoration: underline line-through; color: #ff880080"
        );
        assert_eq!(Shapes::ring_walk(5, -3, 4, 10), Ok(3));
        assert_eq!(Shapes::ring_walk(u64::MAX, 127, i64::MIN, 7), Ok(0));
        assert!(Shapes::ring_walk(0, 1, 1, 0).is_err());
    }

    #[test]
    fn plots() {
        let pts = vec![pt(-1.0, -1.0), pt(1.0, 1.0), pt(0.5, -1.0)];
        assert_eq!(Shapes::plot(pts.clone(), 5, 3, '*', false), "    *\n\n*  *");
        assert_eq!(Shapes::plot(pts, 5, 3, 'o', true), "  | o\n--+--\no |o");
        assert_eq!(Shapes::plot(vec![pt(2.0, 2.0)], 3, 3, '#', true), "\n #\n");
        assert_eq!(Shapes::plot(vec![], 0, 0, '#', true), "");
    }
}
