"""The Feynman symbolic-regression benchmark (Udrescu & Tegmark, "AI Feynman", 2020): 120 equations, 100 from the
Feynman Lectures and 20 bonus equations, each a sympy expression with its variables and the ranges pykan samples
them on.

Each :class:`Equation` carries the truth (``expr``), its ``variables`` and ``ranges``, evaluates itself as a torch
function, and makes a pykan-style dataset (:func:`feynman_dataset`). ``QUICK`` names ten of them, a mix of
products, powers, quotients and a Gaussian, for short runs.

The table's rows are (number, name, variables, expression, ranges): the expression is sympy source in the variable
names; ranges is one [low, high] per variable, or a single pair for all. Names follow the published list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy
import torch
from sympy.parsing.sympy_parser import parse_expr

from .data import create_dataset
from .symbolic.export import to_torch_module

__all__ = ["Equation", "EQUATIONS", "QUICK", "TABLE", "get_equation", "feynman_dataset"]

# display names of the variables whose names in the expressions are shortened
_DISPLAY = {"eps": "epsilon", "lamb": "lambda", "Ef": "E_f", "kb": "k_b", "omega0": "omega_0", "pF": "p_F",
            "pd": "p_d", "Ve": "V_e", "I0": "I_0", "n0": "n_0", "muM": "mu_M", "kf": "k_f", "af": "a_f",
            "kG": "k_G", "ks": "k_s", "Nn": "N_n"}

TABLE: tuple[tuple[int, str, str, str, str], ...] = (
    (1, "I.6.20a", "theta", "exp(-theta**2/2)/sqrt(2*pi)", "[[-3,3]]"),
    (2, "I.6.20", "theta sigma", "exp(-theta**2/(2*sigma**2))/sqrt(2*pi*sigma**2)", "[[-1,1],[0.5,2]]"),
    (3, "I.6.20b", "theta theta1 sigma", "exp(-(theta-theta1)**2/(2*sigma**2))/sqrt(2*pi*sigma**2)", "[[-1.5,1.5],[-1.5,1.5],[0.5,2]]"),
    (4, "I.8.4", "x1 x2 y1 y2", "sqrt((x2-x1)**2+(y2-y1)**2)", "[[-1,1],[-1,1],[-1,1],[-1,1]]"),
    (5, "I.9.18", "G m1 m2 x1 x2 y1 y2 z1 z2", "G*m1*m2/((x2-x1)**2+(y2-y1)**2+(z2-z1)**2)", "[[-1,1],[-1,1],[-1,1],[-1,-0.5],[0.5,1],[-1,-0.5],[0.5,1],[-1,-0.5],[0.5,1]]"),
    (6, "I.10.7", "m0 v c", "m0/sqrt(1-v**2/c**2)", "[[0,1],[0,1],[1,2]]"),
    (7, "I.11.19", "x1 y1 x2 y2 x3 y3", "x1*y1+x2*y2+x3*y3", "[-1,1]"),
    (8, "I.12.1", "mu Nn", "mu*Nn", "[-1,1]"),
    (9, "I.12.2", "q1 q2 eps r", "q1*q2/(4*pi*eps*r**2)", "[[-1,1],[-1,1],[0.5,2],[0.5,2]]"),
    (10, "I.12.4", "q1 eps r", "q1/(4*pi*eps*r**2)", "[[-1,1],[0.5,2],[0.5,2]]"),
    (11, "I.12.5", "q2 Ef", "q2*Ef", "[-1,1]"),
    (12, "I.12.11", "q Ef B v theta", "q*(Ef+B*v*sin(theta))", "[[-1,1],[-1,1],[-1,1],[-1,1],[0,2*pi]]"),
    (13, "I.13.4", "m u v w", "1/2*m*(v**2+u**2+w**2)", "[[-1,1],[-1,1],[-1,1],[-1,1]]"),
    (14, "I.13.12", "G m1 m2 r1 r2", "G*m1*m2*(1/r2-1/r1)", "[[0,1],[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (15, "I.14.3", "m g z", "m*g*z", "[[0,1],[0,1],[-1,1]]"),
    (16, "I.14.4", "ks x", "1/2*ks*x**2", "[[0,1],[-1,1]]"),
    (17, "I.15.3x", "x u t c", "(x-u*t)/sqrt(1-u**2/c**2)", "[[-1,1],[-1,1],[-1,1],[1,2]]"),
    (18, "I.15.3t", "t u x c", "(t-u*x/c**2)/sqrt(1-u**2/c**2)", "[[-1,1],[-1,1],[-1,1],[1,2]]"),
    (19, "I.15.10", "m0 v c", "m0*v/sqrt(1-v**2/c**2)", "[[-1,1],[-0.9,0.9],[1.1,2]]"),
    (20, "I.16.6", "u v c", "(u+v)/(1+u*v/c**2)", "[[-0.8,0.8],[-0.8,0.8],[1,2]]"),
    (21, "I.18.4", "m1 r1 m2 r2", "(m1*r1+m2*r2)/(m1+m2)", "[[0.5,1],[-1,1],[0.5,1],[-1,1]]"),
    (22, "I.18.12", "r F theta", "r*F*sin(theta)", "[[-1,1],[-1,1],[0,2*pi]]"),
    (23, "I.18.16", "m r v theta", "m*r*v*sin(theta)", "[[-1,1],[-1,1],[-1,1],[0,2*pi]]"),
    (24, "I.24.6", "m omega omega0 x", "1/4*m*(omega**2+omega0**2)*x**2", "[[0,1],[-1,1],[-1,1],[-1,1]]"),
    (25, "I.25.13", "q C", "q/C", "[[-1,1],[0.5,2]]"),
    (26, "I.26.2", "n theta2", "asin(n*sin(theta2))", "[[0,0.99],[0,2*pi]]"),
    (27, "I.27.6", "d1 d2 n", "1/(1/d1+n/d2)", "[[0.5,2],[1,2],[0.5,2]]"),
    (28, "I.29.4", "omega c", "omega/c", "[[0,1],[0.5,2]]"),
    (29, "I.29.16", "x1 x2 theta1 theta2", "sqrt(x1**2+x2**2-2*x1*x2*cos(theta1-theta2))", "[[-1,1],[-1,1],[0,2*pi],[0,2*pi]]"),
    (30, "I.30.3", "I0 n theta", "I0*sin(n*theta/2)**2/sin(theta/2)**2", "[[0,1],[0,4],[0.4*pi,1.6*pi]]"),
    (31, "I.30.5", "lamb n d", "asin(lamb/(n*d))", "[[-1,1],[1,1.5],[1,1.5]]"),
    (32, "I.32.5", "q a eps c", "q**2*a**2/(eps*c**3)", "[[-1,1],[-1,1],[0.5,2],[0.5,2]]"),
    (33, "I.32.17", "eps c Ef r omega omega0", "(1/2*eps*c*Ef**2)*(8*pi*r**2/3)*(omega**4/(omega**2-omega0**2)**2)", "[[0,1],[0,1],[-1,1],[0,1],[0,1],[1,2]]"),
    (34, "I.34.8", "q V B p", "q*V*B/p", "[[-1,1],[-1,1],[-1,1],[0.5,2]]"),
    (35, "I.34.10", "omega0 v c", "omega0/(1-v/c)", "[[0,1],[0,0.9],[1.1,2]]"),
    (36, "I.34.14", "omega0 v c", "omega0*(1+v/c)/sqrt(1-v**2/c**2)", "[[0,1],[-0.9,0.9],[1.1,2]]"),
    (37, "I.34.27", "hbar omega", "hbar*omega", "[[-1,1],[-1,1]]"),
    (38, "I.37.4", "I1 I2 delta", "I1+I2+2*sqrt(I1*I2)*cos(delta)", "[[0.1,1],[0.1,1],[0,2*pi]]"),
    (39, "I.38.12", "eps hbar m q", "4*pi*eps*hbar**2/(m*q**2)", "[[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (40, "I.39.10", "pF V", "3/2*pF*V", "[[0,1],[0,1]]"),
    (41, "I.39.11", "gamma pF V", "pF*V/(gamma-1)", "[[1.5,3],[0,1],[0,1]]"),
    (42, "I.39.22", "n kb T V", "n*kb*T/V", "[[0,1],[0,1],[0,1],[0.5,2]]"),
    (43, "I.40.1", "n0 m g x kb T", "n0*exp(-m*g*x/(kb*T))", "[[0,1],[-1,1],[-1,1],[-1,1],[1,2],[1,2]]"),
    (44, "I.41.16", "hbar omega c kb T", "hbar*omega**3/(pi**2*c**2*(exp(hbar*omega/(kb*T))-1))", "[[0.5,1],[0.5,1],[0.5,2],[0.5,2],[0.5,2]]"),
    (45, "I.43.16", "mu q Ve d", "mu*q*Ve/d", "[[0,1],[0,1],[0,1],[0.5,2]]"),
    (46, "I.43.31", "mu kb T", "mu*kb*T", "[[0,1],[0,1],[0,1]]"),
    (47, "I.43.43", "gamma kb v A", "kb*v/A/(gamma-1)", "[[1.5,3],[0,1],[0,1],[0.5,2]]"),
    (48, "I.44.4", "n kb T V1 V2", "n*kb*T*log(V2/V1)", "[[0,1],[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (49, "I.47.23", "gamma p rho", "sqrt(gamma*p/rho)", "[[0.1,1],[0.1,1],[0.5,2]]"),
    (50, "I.48.20", "m v c", "m*c**2/sqrt(1-v**2/c**2)", "[[0,1],[-0.9,0.9],[1.1,2]]"),
    (51, "I.50.26", "x1 alpha omega t", "x1*(cos(omega*t)+alpha*cos(omega*t)**2)", "[[0,1],[0,1],[0,2*pi],[0,1]]"),
    (52, "II.2.42", "kappa T1 T2 A d", "kappa*(T2-T1)*A/d", "[[0,1],[0,1],[0,1],[0,1],[0.5,2]]"),
    (53, "II.3.24", "P r", "P/(4*pi*r**2)", "[[0,1],[0.5,2]]"),
    (54, "II.4.23", "q eps r", "q/(4*pi*eps*r)", "[[0,1],[0.5,2],[0.5,2]]"),
    (55, "II.6.11", "eps pd theta r", "1/(4*pi*eps)*pd*cos(theta)/r**2", "[[0.5,2],[0,1],[0,2*pi],[0.5,2]]"),
    (56, "II.6.15a", "eps pd z x y r", "3/(4*pi*eps)*pd*z/r**5*sqrt(x**2+y**2)", "[[0.5,2],[0,1],[0,1],[0,1],[0,1],[0.5,2]]"),
    (57, "II.6.15b", "eps pd r theta", "3/(4*pi*eps)*pd/r**3*cos(theta)*sin(theta)", "[[0.5,2],[0,1],[0.5,2],[0,2*pi]]"),
    (58, "II.8.7", "q eps d", "3/5*q**2/(4*pi*eps*d)", "[[0,1],[0.5,2],[0.5,2]]"),
    (59, "II.8.31", "eps Ef", "1/2*eps*Ef**2", "[[0,1],[0,1]]"),
    (60, "II.10.9", "sigma eps chi", "sigma/eps/(1+chi)", "[[0,1],[0.5,2],[0,1]]"),
    (61, "II.11.3", "q Ef m omega0 omega", "q*Ef/(m*(omega0**2-omega**2))", "[[0,1],[0,1],[0.5,2],[1.5,3],[0,1]]"),
    (62, "II.11.17", "n0 pd Ef theta kb T", "n0*(1+pd*Ef*cos(theta)/(kb*T))", "[[0,1],[-1,1],[-1,1],[0,2*pi],[0.5,2],[0.5,2]]"),
    (63, "II.11.20", "n pd Ef kb T", "n*pd**2*Ef/(3*kb*T)", "[[0,1],[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (64, "II.11.27", "n alpha eps Ef", "n*alpha/(1-n*alpha/3)*eps*Ef", "[[0,1],[0,2],[0,1],[0,1]]"),
    (65, "II.11.28", "n alpha", "1+n*alpha/(1-n*alpha/3)", "[[0,1],[0,2]]"),
    (66, "II.13.17", "eps c l r", "1/(4*pi*eps*c**2)*(2*l/r)", "[[0.5,2],[0.5,2],[0,1],[0.5,2]]"),
    (67, "II.13.23", "rho v c", "rho/sqrt(1-v**2/c**2)", "[[0,1],[0,1],[1,2]]"),
    (68, "II.13.34", "rho v c", "rho*v/sqrt(1-v**2/c**2)", "[[0,1],[0,1],[1,2]]"),
    (69, "II.15.4", "muM B theta", "-muM*B*cos(theta)", "[[0,1],[0,1],[0,2*pi]]"),
    (70, "II.15.5", "pd Ef theta", "-pd*Ef*cos(theta)", "[[0,1],[0,1],[0,2*pi]]"),
    (71, "II.21.32", "q eps r v c", "q/(4*pi*eps*r*(1-v/c))", "[[0,1],[0.5,2],[0.5,2],[0,1],[1,2]]"),
    (72, "II.24.17", "omega c d", "sqrt(omega**2/c**2-pi**2/d**2)", "[[1,1.5],[0.75,1],[1*pi,1.5*pi]]"),
    (73, "II.27.16", "eps c Ef", "eps*c*Ef**2", "[[0,1],[0,1],[-1,1]]"),
    (74, "II.27.18", "eps Ef", "eps*Ef**2", "[[0,1],[-1,1]]"),
    (75, "II.34.2a", "q v r", "q*v/(2*pi*r)", "[[0,1],[0,1],[0.5,2]]"),
    (76, "II.34.2", "q v r", "q*v*r/2", "[[0,1],[0,1],[0,1]]"),
    (77, "II.34.11", "g q B m", "g*q*B/(2*m)", "[[0,1],[0,1],[0,1],[0.5,2]]"),
    (78, "II.34.29a", "q h m", "q*h/(4*pi*m)", "[[0,1],[0,1],[0.5,2]]"),
    (79, "II.34.29b", "g mu B J hbar", "g*mu*B*J/hbar", "[[0,1],[0,1],[0,1],[0,1],[0.5,2]]"),
    (80, "II.35.18", "n0 mu B kb T", "n0/(exp(mu*B/(kb*T))+exp(-mu*B/(kb*T)))", "[[0,1],[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (81, "II.35.21", "n mu B kb T", "n*mu*tanh(mu*B/(kb*T))", "[[0,1],[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (82, "II.36.38", "mu B kb T alpha M eps c", "mu*B/(kb*T)+mu*alpha*M/(eps*c**2*kb*T)", "[[0,1],[0,1],[0.5,2],[0.5,2],[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (83, "II.37.1", "mu chi B", "mu*(1+chi)*B", "[[0,1],[0,1],[0,1]]"),
    (84, "II.38.3", "Y A x d", "Y*A*x/d", "[[0,1],[0,1],[0,1],[0.5,2]]"),
    (85, "II.38.14", "Y sigma", "Y/(2*(1+sigma))", "[[0,1],[0,1]]"),
    (86, "III.4.32", "hbar omega kb T", "1/(exp(hbar*omega/(kb*T))-1)", "[[0.5,1],[0.5,1],[0.5,2],[0.5,2]]"),
    (87, "III.4.33", "hbar omega kb T", "hbar*omega/(exp(hbar*omega/(kb*T))-1)", "[[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (88, "III.7.38", "mu B hbar", "2*mu*B/hbar", "[[0,1],[0,1],[0.5,2]]"),
    (89, "III.8.54", "E t hbar", "sin(E*t/hbar)**2", "[[0,2*pi],[0,1],[0.5,2]]"),
    (90, "III.9.52", "pd Ef t hbar omega omega0", "pd*Ef*t/hbar*sin((omega-omega0)*t/2)**2/((omega-omega0)*t/2)**2", "[[0,1],[0,1],[0,1],[0.5,2],[0,pi],[0,pi]]"),
    (91, "III.10.19", "mu Bx By Bz", "mu*sqrt(Bx**2+By**2+Bz**2)", "[[0,1],[0,1],[0,1],[0,1]]"),
    (92, "III.12.43", "n hbar", "n*hbar", "[[0,1],[0,1]]"),
    (93, "III.13.18", "E d k hbar", "2*E*d**2*k/hbar", "[[0,1],[0,1],[0,1],[0.5,2]]"),
    (94, "III.14.14", "I0 q Ve kb T", "I0*(exp(q*Ve/(kb*T))-1)", "[[0,1],[0,1],[0,1],[0.5,2],[0.5,2]]"),
    (95, "III.15.12", "U k d", "2*U*(1-cos(k*d))", "[[0,1],[0,2*pi],[0,1]]"),
    (96, "III.15.14", "hbar E d", "hbar**2/(2*E*d**2)", "[[0,1],[0.5,2],[0.5,2]]"),
    (97, "III.15.27", "alpha n d", "2*pi*alpha/(n*d)", "[[0,1],[0.5,2],[0.5,2]]"),
    (98, "III.17.37", "beta alpha theta", "beta*(1+alpha*cos(theta))", "[[0,1],[0,1],[0,2*pi]]"),
    (99, "III.19.51", "m q eps hbar n", "-m*q**4/(2*(4*pi*eps)**2*hbar**2)*1/n**2", "[[0,1],[0,1],[0.5,2],[0.5,2],[0.5,2]]"),
    (100, "III.21.20", "rho q A m", "-rho*q*A/m", "[[0,1],[0,1],[0,1],[0.5,2]]"),
    (101, "Rutherford scattering", "Z1 Z2 alpha hbar c E theta", "(Z1*Z2*alpha*hbar*c/(4*E*sin(theta/2)**2))**2", "[[0,1],[0,1],[0,1],[0,1],[0,1],[0.5,2],[0.1*pi,0.9*pi]]"),
    (102, "Friedman equation", "G rho kf c af", "sqrt(8*pi*G/3*rho-kf*c**2/af**2)", "[[1,2],[1,2],[0,1],[0,1],[1,2]]"),
    (103, "Compton scattering", "E m c theta", "E/(1+E/(m*c**2)*(1-cos(theta)))", "[[0,1],[0.5,2],[0.5,2],[0,2*pi]]"),
    (104, "Radiated gravitational wave power", "G c m1 m2 r", "-32/5*G**4/c**5*(m1*m2)**2*(m1+m2)/r**5", "[[0,1],[0.5,2],[0,1],[0,1],[0.5,2]]"),
    (105, "Relativistic aberration", "theta2 v c", "acos((cos(theta2)-v/c)/(1-v/c*cos(theta2)))", "[[0,pi],[0,1],[1,2]]"),
    (106, "N-slit diffraction", "I0 alpha delta N", "I0*(sin(alpha/2)/(alpha/2)*sin(N*delta/2)/sin(delta/2))**2", "[[0,1],[0.1*pi,0.9*pi],[0.1*pi,0.9*pi],[0.5,1]]"),
    (107, "Goldstein 3.16", "m E U L r", "sqrt(2/m*(E-U-L**2/(2*m*r**2)))", "[[1,2],[2,3],[0,1],[0,1],[1,2]]"),
    (108, "Goldstein 3.55", "m kG L E theta1 theta2", "m*kG/L**2*(1+sqrt(1+2*E*L**2/(m*kG**2))*cos(theta1-theta2))", "[[0.5,2],[0.5,2],[0.5,2],[0,1],[0,2*pi],[0,2*pi]]"),
    (109, "Goldstein 3.64 (ellipse)", "d alpha theta1 theta2", "d*(1-alpha**2)/(1+alpha*cos(theta2-theta1))", "[[0,1],[0,0.9],[0,2*pi],[0,2*pi]]"),
    (110, "Goldstein 3.74 (Kepler)", "d G m1 m2", "2*pi*d**(3/2)/sqrt(G*(m1+m2))", "[[0,1],[0.5,2],[0.5,2],[0.5,2]]"),
    (111, "Goldstein 3.99", "eps E L m Z1 Z2 q", "sqrt(1+2*eps**2*E*L**2/(m*(Z1*Z2*q**2)**2))", "[[0,1],[0,1],[0,1],[0.5,2],[0.5,2],[0.5,2],[0.5,2]]"),
    (112, "Goldstein 8.56", "p q A c m Ve", "sqrt((p-q*A)**2*c**2+m**2*c**4)+q*Ve", "[0,1]"),
    (113, "Goldstein 12.80", "m p omega x alpha y", "1/(2*m)*(p**2+m**2*omega**2*x**2*(1+alpha*y/x))", "[[0.5,2],[0,1],[0,1],[0,1],[0,1],[0.5,2]]"),
    (114, "Jackson 2.11", "q eps y Ve d", "q/(4*pi*eps*y**2)*(4*pi*eps*Ve*d-q*d*y**3/(y**2-d**2)**2)", "[[0,1],[0.5,2],[1,2],[0,1],[0,1]]"),
    (115, "Jackson 3.45", "q r d alpha", "q/sqrt(r**2+d**2-2*d*r*cos(alpha))", "[[0,1],[0,1],[0,1],[0,2*pi]]"),
    (116, "Jackson 4.60", "Ef theta alpha d r", "Ef*cos(theta)*((alpha-1)/(alpha+2)*d**3/r**2-r)", "[[0,1],[0,2*pi],[0,2],[0,1],[0.5,2]]"),
    (117, "Jackson 11.38 (Doppler)", "omega v c theta", "sqrt(1-v**2/c**2)/(1+v/c*cos(theta))*omega", "[[0,1],[0,1],[1,2],[0,2*pi]]"),
    (118, "Weinberg 15.2.1", "G c kf af H", "3/(8*pi*G)*(c**2*kf/af**2+H**2)", "[[0.5,2],[0,1],[0,1],[0.5,2],[0,1]]"),
    (119, "Weinberg 15.2.2", "G c kf af H alpha", "-1/(8*pi*G)*(c**4*kf/af**2+c**2*H**2*(1-2*alpha))", "[[0.5,2],[0,1],[0,1],[0.5,2],[0,1],[0,1]]"),
    (120, "Schwarz 13.132 (Klein-Nishina)", "alpha hbar m c omega0 omega theta", "pi*alpha**2*hbar**2/m**2/c**2*(omega0/omega)**2*(omega0/omega+omega/omega0-sin(theta)**2)", "[[0,1],[0,1],[0.5,2],[0.5,2],[0.5,2],[0.5,2],[0,2*pi]]"),
)



@dataclass(frozen=True)
class Equation:
    """One equation: ``expr`` in the real symbols ``variables``, sampled on ``ranges`` (one (low, high) each)."""

    number: int
    name: str
    expr: sympy.Expr
    variables: tuple[sympy.Symbol, ...]
    ranges: tuple[tuple[float, float], ...]

    @property
    def n_var(self) -> int:
        return len(self.variables)

    def function(self) -> torch.nn.Module:
        """A torch module (N, n_var) -> (N, 1) evaluating the equation."""
        return to_torch_module([self.expr], list(self.variables))

    def sample(self, n: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` points drawn uniformly in the ranges, from their own seeded generator: x (n, n_var), y (n, 1)."""
        gen = torch.Generator().manual_seed(seed)
        lo = torch.tensor([r[0] for r in self.ranges], dtype=dtype)
        hi = torch.tensor([r[1] for r in self.ranges], dtype=dtype)
        x = lo + (hi - lo) * torch.rand(n, self.n_var, generator=gen, dtype=dtype)
        with torch.no_grad():
            return x, self.function()(x)


def _parse(number: int, name: str, variables: str, source: str, ranges: str) -> Equation:
    names = variables.split()
    bounds = eval(ranges, {"__builtins__": {}}, {"pi": math.pi})  # a literal of numbers and pi only
    if not isinstance(bounds[0], list):
        bounds = [bounds] * len(names)
    if len(bounds) != len(names):
        raise AssertionError(f"Feynman table row {number}: {len(names)} variables, {len(bounds)} ranges")
    # each symbol knows its range's sign, so that sympy simplifies sqrt(sigma**2) to sigma on (0.5, 2)
    symbols = tuple(sympy.Symbol(_DISPLAY.get(v, v), real=True, positive=True if lo > 0 else None,
                                 nonnegative=True if lo >= 0 else None) for v, (lo, _) in zip(names, bounds))
    expr = parse_expr(source, local_dict={**dict(zip(names, symbols)), "pi": sympy.pi})
    return Equation(number, name, expr, symbols, tuple((float(lo), float(hi)) for lo, hi in bounds))


EQUATIONS: dict[str, Equation] = {row[1]: _parse(*row) for row in TABLE}

QUICK: tuple[str, ...] = ("I.6.20a", "I.12.1", "I.14.4", "I.25.13", "I.29.4", "I.39.10", "II.3.24", "II.8.31",
                          "I.13.4", "I.6.20")


def get_equation(name: str | int) -> Equation:
    """An equation by its name, or by its number 1..120."""
    if isinstance(name, int) and not isinstance(name, bool) and 1 <= name <= len(TABLE):
        return EQUATIONS[TABLE[name - 1][1]]
    if not isinstance(name, str) or name not in EQUATIONS:
        raise ValueError(f"unknown Feynman equation {name!r}: give a number 1..{len(TABLE)} or one of the names, "
                         f"e.g. {', '.join(QUICK[:3])}")
    return EQUATIONS[name]


def feynman_dataset(name: str | int, train_num: int = 1000, test_num: int = 1000, dtype: torch.dtype | None = None,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """The pykan-style dataset dict for one equation, sampled uniformly in its ranges."""
    eq = get_equation(name)
    fn = eq.function()
    return create_dataset(lambda x: fn(x), n_var=eq.n_var, ranges=[list(r) for r in eq.ranges],
                          train_num=train_num, test_num=test_num, dtype=dtype, seed=seed)
