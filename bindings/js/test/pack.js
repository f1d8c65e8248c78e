// Test helper: writes the packed single-file bundle format (privet-core's `BundleSources::to_packed`, format 1)
// from in-memory sources, so tests can make bundles without the CLI.
import { createHash } from 'node:crypto';

function u64le(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** The content hash: sha256 over a fixed prefix and every part, each length-prefixed. */
export function bundleHash({ manifest = null, schema, policies, entities = null }) {
  const h = createHash('sha256');
  h.update('privet-bundle-v1\0');
  const part = (name, text) => {
    for (const s of [name, text]) {
      const b = Buffer.from(s, 'utf8');
      h.update(u64le(b.length));
      h.update(b);
    }
  };
  part(manifest?.name ?? '', manifest?.text ?? '');
  part(schema.name, schema.text);
  for (const p of policies) part(p.name, p.text);
  part(entities?.name ?? '', entities?.text ?? '');
  return `sha256:${h.digest('hex')}`;
}

/** Packs sources (`{name, text}` files) into the bytes `Privet.load` takes. */
export function packBundle(sources) {
  const { manifest = null, schema, policies, entities = null } = sources;
  return Buffer.from(
    JSON.stringify({ privet_bundle: 1, hash: bundleHash(sources), manifest, schema, policies, entities }),
  );
}
