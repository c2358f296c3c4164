/** Owner ids: 32 random hex characters, as in the seed (`786f947d8a6643f0b939865f72aa512a`). */

export function randomOwner(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
