// Distances and the k-nearest query of upstream's geo index
// (go-geoindex KNearest: at most k points within a radius, nearest first).

const EARTH_RADIUS_KM = 6371.0088;
const RAD = Math.PI / 180;

/** Great-circle distance in km (haversine). */
export function distanceKm(lat1, lon1, lat2, lon2) {
  const dLat = (lat2 - lat1) * RAD;
  const dLon = (lon2 - lon1) * RAD;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

/**
 * The ids of at most `k` points within `radiusKm` of (lat, lon), nearest
 * first (ties by position in `points`). `points` are {id, lat, lon}.
 */
export function kNearest(points, lat, lon, k, radiusKm) {
  const near = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const d = distanceKm(lat, lon, p.lat, p.lon);
    if (d <= radiusKm) near.push({ d, i, id: p.id });
  }
  near.sort((a, b) => a.d - b.d || a.i - b.i);
  return near.slice(0, k).map((n) => n.id);
}

/** Upstream's search parameters: k = 5 within 10 km. */
export const K = 5;
export const RADIUS_KM = 10;
