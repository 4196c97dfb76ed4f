//! `weld-test:add`: the trivial tool used by weld's benchmarks.

wit_bindgen::generate!({
    world: "add",
    path: "wit",
});

struct Add;

impl Guest for Add {
    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
}

export!(Add);
