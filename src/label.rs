//! Shipping and return labels as small PDFs (4×6 inch), rendered on demand from the order.
//!
//! Nothing is stored: the booking (carrier, service, tracking number) is part of the order, so
//! the same label can be printed again at any time. Standard Type 1 fonts only cover Latin-1,
//! so other characters print as '?'.

use orderly_actors::domain::{Address, Order};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| {
            if (c as u32) < 256 && !c.is_control() {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

fn render(lines: &[(f32, String)]) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let page = Ref::new(3);
    let font = Ref::new(4);
    let content_id = Ref::new(5);
    let font_name = Name(b"F1");
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, 288.0, 432.0));
    p.parent(tree);
    p.contents(content_id);
    p.resources().fonts().pair(font_name, font);
    p.finish();
    pdf.type1_font(font).base_font(Name(b"Helvetica"));
    let mut c = Content::new();
    let mut y = 400.0;
    for (size, text) in lines {
        c.begin_text();
        c.set_font(font_name, *size);
        c.next_line(18.0, y);
        c.show(Str(&latin1(text)));
        c.end_text();
        y -= size + 8.0;
    }
    pdf.stream(content_id, &c.finish());
    pdf.finish()
}

fn address_lines(a: &Address) -> Vec<(f32, String)> {
    let mut v = vec![(12.0, a.name.clone()), (12.0, a.line1.clone())];
    if let Some(l2) = &a.line2 {
        v.push((12.0, l2.clone()));
    }
    v.push((12.0, format!("{} {}", a.postal_code, a.city)));
    v.push((12.0, a.country.clone()));
    v
}

/// The shipping label of a shipment (`None`: the order's first booked one), once its carrier
/// is booked.
pub fn shipping_label(o: &Order, shipment: Option<u32>) -> Option<Vec<u8>> {
    let shipment = match shipment {
        Some(id) => o.shipment(id)?,
        None => o.shipments.iter().find(|s| s.booking.is_some())?,
    };
    let b = shipment.booking.as_ref()?;
    let grams: u32 = shipment.parcels.iter().map(|p| p.weight_grams).sum();
    let mut lines = vec![
        (20.0, b.carrier_name.clone()),
        (11.0, format!("Service: {}", b.service)),
        (16.0, b.tracking_number.clone()),
        (10.0, "SHIP TO".to_string()),
    ];
    lines.extend(address_lines(&o.shipping.address));
    lines.push((
        10.0,
        format!("Parcels: {}  Weight: {grams} g", shipment.parcels.len()),
    ));
    lines.push((10.0, format!("From warehouse: {}", shipment.warehouse)));
    lines.push((
        10.0,
        format!(
            "Order: {}",
            o.external_ref.clone().unwrap_or_else(|| o.id.to_string())
        ),
    ));
    lines.push((
        10.0,
        format!("Estimated delivery: {}", b.estimated_delivery),
    ));
    Some(render(&lines))
}

/// The return label, once a return is approved.
pub fn return_label(o: &Order) -> Option<Vec<u8>> {
    let rc = o.return_case.as_ref()?;
    let mut lines = vec![
        (20.0, "RETURN".to_string()),
        (16.0, rc.tracking_number.clone()),
        (10.0, "FROM".to_string()),
    ];
    lines.extend(address_lines(&o.shipping.address));
    lines.push((
        10.0,
        format!(
            "Order: {}",
            o.external_ref.clone().unwrap_or_else(|| o.id.to_string())
        ),
    ));
    for l in &rc.lines {
        lines.push((10.0, format!("{} x {}", l.quantity, l.sku)));
    }
    Some(render(&lines))
}
